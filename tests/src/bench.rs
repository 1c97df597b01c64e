//! What the benchmarks (`cargo bench`, `benches/` of the component crates) share: which build
//! of our binaries they launch, percentiles of their samples and a process's memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::bin_dir;

/// Points the harness at the release builds of `binaries` when every one is built (`cargo
/// build --release --workspace --bins`, as `make bench` does), else at the debug builds, by
/// setting `TINYKUBE_BIN_DIR`; returns a line saying which, for the benchmark's output.
///
/// Call it first thing in `main`, before any thread starts: it changes the environment.
pub fn select_binaries(binaries: &[&str]) -> anyhow::Result<String> {
    let here = bin_dir()?;
    let target = here
        .parent()
        .context("the benchmark runs from <target>/<profile>/deps")?;
    let missing = |dir: &Path| -> Vec<&str> {
        binaries
            .iter()
            .copied()
            .filter(|b| !dir.join(b).is_file())
            .collect()
    };
    let release = target.join("release");
    let not_in_release = missing(&release);
    let (dir, which): (PathBuf, String) = if not_in_release.is_empty() {
        (release.clone(), format!("release ({})", release.display()))
    } else {
        let debug = target.join("debug");
        let not_in_debug = missing(&debug);
        if !not_in_debug.is_empty() {
            bail!(
                "binaries {not_in_debug:?} missing in {} and {not_in_release:?} in {}: run `cargo build --release --workspace --bins`",
                debug.display(),
                release.display()
            );
        }
        let which = format!(
            "DEBUG ({}; no release build of {})",
            debug.display(),
            not_in_release.join(", ")
        );
        (debug, which)
    };
    std::env::set_var("TINYKUBE_BIN_DIR", &dir);
    Ok(which)
}

/// The nearest-rank percentile `fraction` (0.0..=1.0; 0.5 is the median, 1.0 the maximum) of
/// `sorted` samples; zero when there are none.
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A `kB` field of `/proc/<pid>/status`, such as `VmRSS` or `VmHWM`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    parse_status_kib(&status, field).with_context(|| format!("{field} in /proc/{pid}/status"))
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let samples: Vec<Duration> = (1..=10).map(ms).collect();
        for (fraction, want) in [
            (0.0, 1),
            (0.1, 1),
            (0.5, 5),
            (0.9, 9),
            (0.99, 10),
            (1.0, 10),
        ] {
            assert_eq!(percentile(&samples, fraction), ms(want), "p{fraction}");
        }
        assert_eq!(percentile(&[ms(7)], 0.5), ms(7));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn status_fields_are_read_by_exact_name() {
        let status = "Name:\tkubelet\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nVmRSSx:\t1 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib(status, "Name"), None);
    }
}
