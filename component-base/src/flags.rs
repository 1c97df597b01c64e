//! Flag values every binary parses the same way as upstream's Go flags.

use std::time::Duration;

/// Parses a Go duration as upstream's flags take them (`--leader-elect-lease-duration`,
/// `--node-monitor-grace-period`, `--sync-period`, ...): a sequence of decimal numbers with
/// units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns` (`15s`, `1m30s`, `1.5s`, `500ms`); a bare `0` is
/// zero. Negative durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (examples: 15s, 1m30s, 500ms)");
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let ok = [
            ("15s", Duration::from_secs(15)),
            ("0", Duration::ZERO),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("2h", Duration::from_secs(7200)),
            ("10us", Duration::from_micros(10)),
            // The defaults and examples of kube-controller-manager's and kube-proxy's flags.
            ("40s", Duration::from_secs(40)),
            ("1m0s", Duration::from_secs(60)),
            ("1h30m", Duration::from_secs(5400)),
            ("2.5s", Duration::from_millis(2500)),
            ("1s", Duration::from_secs(1)),
            ("30s", Duration::from_secs(30)),
            ("1h", Duration::from_secs(3600)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "15", "10", "5", "s", "-1s", "1x", "5x", "1..5s", "1s2"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
