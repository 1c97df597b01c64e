//! The errors kubectl prints, worded as upstream prints them.

use kube::core::Status;

/// A failed command. `Display` is the exact line printed on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The apiserver answered with a failure `Status`.
    #[error("Error from server ({reason}): {message}")]
    Server {
        reason: String,
        message: String,
        code: u16,
    },
    /// The command line, a manifest or a kubeconfig is wrong; nothing was sent.
    #[error("error: {0}")]
    Usage(String),
    /// A message printed exactly as given, without a prefix (upstream prints validation
    /// failures as `The Deployment "web" is invalid: ...`).
    #[error("{0}")]
    Plain(String),
    /// The apiserver could not be reached.
    #[error("Unable to connect to the server: {0}")]
    Unreachable(String),
    /// Several independent failures (for example one per object of `apply -f dir/`), each
    /// already worded; printed one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<CliError>),
    /// The command already reported what went wrong (or a remote process exited non-zero, as
    /// with `exec`) and only the exit code remains.
    #[error("")]
    Exit(u8),
}

impl CliError {
    /// A usage error from anything printable.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// The process exit code upstream uses for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Exit(code) => *code,
            _ => 1,
        }
    }

    /// The HTTP code of a server error (0 for anything else), to branch on NotFound / Conflict.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Server { code, .. } => *code,
            _ => 0,
        }
    }

    /// Whether the server said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status_code() == 404
    }
}

impl From<Box<Status>> for CliError {
    fn from(status: Box<Status>) -> Self {
        let reason = if status.reason.is_empty() {
            "Unknown".to_owned()
        } else {
            status.reason.clone()
        };
        Self::Server {
            reason,
            message: status.message.clone(),
            code: status.code,
        }
    }
}

impl From<kube::Error> for CliError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => status.into(),
            kube::Error::SerdeError(e) => Self::Usage(format!("decoding the server's answer: {e}")),
            other => Self::Unreachable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_read_like_upstream() {
        let status = Status {
            code: 404,
            reason: "NotFound".into(),
            message: "pods \"x\" not found".into(),
            ..Status::default()
        };
        let error = CliError::from(kube::Error::Api(Box::new(status)));
        assert_eq!(
            error.to_string(),
            "Error from server (NotFound): pods \"x\" not found"
        );
        assert_eq!(error.exit_code(), 1);
        assert!(error.is_not_found());
    }

    #[test]
    fn exit_passes_the_code_through_silently() {
        let error = CliError::Exit(3);
        assert_eq!(error.to_string(), "");
        assert_eq!(error.exit_code(), 3);
    }
}
