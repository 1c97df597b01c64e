//! Tests that need root say so loudly instead of skipping.
//!
//! Namespaces, iptables and cgroups need root. CI runs as root; a test that needs it calls
//! [`require_root`] first and fails with a clear message elsewhere, it never passes by skipping.

/// The effective uid of this process, read from `/proc/self/status` (`Uid:` line, 2nd field).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Panics unless the effective uid is 0.
#[track_caller]
pub fn require_root() {
    match effective_uid() {
        Some(0) => {}
        other => panic!(
            "this test needs root: run as root (CI does); effective uid is {}",
            other.map_or_else(|| "unknown".to_string(), |u| u.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_effective_not_real_uid() {
        let status = "Name:\tx\nUid:\t1000\t0\t1000\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
        assert!(effective_uid().is_some());
    }
}
