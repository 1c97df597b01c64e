//! Tracing setup shared by every binary: human-readable lines on stderr, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info";

/// Errors from [`init_tracing`].
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid RUST_LOG filter {filter:?}: {source}")]
    InvalidFilter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the global subscriber. `RUST_LOG` (e.g. `debug`, `tinykube_apiserver=trace`) sets the
/// level; a malformed value is an error rather than silently logging nothing.
pub fn init_tracing() -> Result<(), LoggingError> {
    let filter = build_filter(std::env::var("RUST_LOG").ok().as_deref())?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|_| LoggingError::AlreadyInstalled)
}

fn build_filter(rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    let filter = match rust_log {
        Some(value) if !value.trim().is_empty() => value,
        _ => DEFAULT_FILTER,
    };
    EnvFilter::try_new(filter).map_err(|source| LoggingError::InvalidFilter {
        filter: filter.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_from_rust_log() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, true),
            (Some(""), true),
            (Some("debug"), true),
            (Some("tinykube_apiserver=trace,info"), true),
            (Some("info,[span{=]"), false),
        ];
        for (rust_log, valid) in cases {
            assert_eq!(
                build_filter(*rust_log).is_ok(),
                *valid,
                "RUST_LOG={rust_log:?}"
            );
        }
    }

    #[test]
    fn unset_rust_log_means_info() {
        let filter = build_filter(None).unwrap();
        assert_eq!(filter.to_string(), DEFAULT_FILTER);
    }
}
