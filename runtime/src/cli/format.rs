//! What the CLI prints, formatted as Docker formats it (`docker ps`, `docker images`), and the
//! CRI log lines it reads back.

/// Docker's `units.HumanDuration`: "Less than a second", "About a minute", "3 hours", ...
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = (s as f64 / 3600.0).round() as i64;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// A container's state as `docker ps` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Created,
    /// Running since (ns).
    Running(i64),
    /// Exit code, finished at (ns).
    Exited(i32, i64),
}

/// The STATUS column: `Created`, `Up 3 minutes`, `Exited (0) 2 seconds ago`.
pub fn status_text(state: &State, now_ns: i64) -> String {
    let secs = |t: i64| (now_ns - t) / 1_000_000_000;
    match state {
        State::Created => "Created".into(),
        State::Running(started) => format!("Up {}", human_duration(secs(*started))),
        State::Exited(code, finished) => {
            format!("Exited ({code}) {} ago", human_duration(secs(*finished)))
        }
    }
}

/// The COMMAND column: the command line, cut to 20 characters with `…`, quoted.
pub fn command_text(args: &[String]) -> String {
    let full = args.join(" ");
    let cut: String = if full.chars().count() > 20 {
        full.chars().take(19).chain(['…']).collect()
    } else {
        full
    };
    format!("{cut:?}")
}

/// The PORTS column: `0.0.0.0:8080->80/tcp, ...`.
pub fn ports_text(ports: &[super::parse::Publish]) -> String {
    ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's decimal sizes with 3 significant digits: `4.26MB`, `217kB`, `12B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    // %.3g: three significant digits, no trailing zeros.
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

/// Columns padded as Docker's tabwriter does (cells at least 20 wide, 3 spaces apart).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(20)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `docker.io/library/busybox:latest` -> (`busybox`, `latest`), as `docker images` shows
/// Docker Hub names short.
pub fn repo_and_tag(reference: &str) -> (String, String) {
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (reference, "<none>"),
    };
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    (short.to_string(), tag.to_string())
}

/// One line of a CRI log file: `<RFC3339Nano> stdout|stderr F|P <content>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub timestamp: &'a str,
    pub stderr: bool,
    /// `P`: the line continues in the next record (no newline after the content).
    pub partial: bool,
    pub content: &'a str,
}

/// Parses one CRI log line; `None` for lines that are not in the format.
pub fn parse_log_line(line: &str) -> Option<LogLine<'_>> {
    let mut parts = line.splitn(4, ' ');
    let timestamp = parts.next()?;
    let stream = parts.next()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or("");
    let stderr = match stream {
        "stdout" => false,
        "stderr" => true,
        _ => return None,
    };
    let partial = match tag.split(':').next()? {
        "F" => false,
        "P" => true,
        _ => return None,
    };
    Some(LogLine {
        timestamp,
        stderr,
        partial,
        content,
    })
}

/// The complete lines of `buf` (log records end with `\n`); the unfinished tail stays in `buf`.
pub fn take_lines(buf: &mut Vec<u8>) -> Vec<String> {
    let Some(last) = buf.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let rest = buf.split_off(last + 1);
    let done = std::mem::replace(buf, rest);
    String::from_utf8_lossy(&done)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The last `n` lines of `lines` (all with `None`).
pub fn tail<T>(lines: &[T], n: Option<usize>) -> &[T] {
    match n {
        Some(n) if n < lines.len() => &lines[lines.len() - n..],
        _ => lines,
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::Publish;
    use super::*;

    #[test]
    fn durations_as_docker() {
        let cases = [
            (0, "Less than a second"),
            (1, "1 second"),
            (45, "45 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (2 * 3600, "2 hours"),
            (47 * 3600, "47 hours"),
            (3 * 86400, "3 days"),
            (20 * 86400, "2 weeks"),
            (90 * 86400, "3 months"),
            (800 * 86400, "2 years"),
            (-5, "Less than a second"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn status_and_command_columns() {
        let now = 1_000 * 1_000_000_000;
        assert_eq!(status_text(&State::Created, now), "Created");
        assert_eq!(
            status_text(&State::Running(now - 180 * 1_000_000_000), now),
            "Up 3 minutes"
        );
        assert_eq!(
            status_text(&State::Exited(137, now - 2_000_000_000), now),
            "Exited (137) 2 seconds ago"
        );
        assert_eq!(command_text(&["sh".into()]), "\"sh\"");
        assert_eq!(
            command_text(&[
                "httpd".into(),
                "-f".into(),
                "-p".into(),
                "80".into(),
                "-h".into(),
                "/www".into()
            ]),
            "\"httpd -f -p 80 -h /…\""
        );
        assert_eq!(
            command_text(&["echo".into(), "a\"b".into()]),
            "\"echo a\\\"b\""
        );
        let ports = [
            Publish {
                host_ip: String::new(),
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
            },
            Publish {
                host_ip: "127.0.0.1".into(),
                host_port: 53,
                container_port: 53,
                protocol: "udp".into(),
            },
        ];
        assert_eq!(
            ports_text(&ports),
            "0.0.0.0:8080->80/tcp, 127.0.0.1:53->53/udp"
        );
    }

    #[test]
    fn sizes_and_tables() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (217_000, "217kB"),
            (4_261_000, "4.26MB"),
            (12_500_000, "12.5MB"),
            (1_000_000_000, "1GB"),
        ];
        for (b, want) in cases {
            assert_eq!(human_size(b), want, "{b}");
        }
        let t = table(&[
            vec!["CONTAINER ID".into(), "IMAGE".into(), "NAMES".into()],
            vec![
                "0123456789ab".into(),
                "a-very-long-image-name:1".into(),
                "web".into(),
            ],
        ]);
        assert_eq!(
            t,
            "CONTAINER ID        IMAGE                      NAMES\n\
             0123456789ab        a-very-long-image-name:1   web\n"
        );
        assert_eq!(
            repo_and_tag("docker.io/library/busybox:latest"),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            repo_and_tag("127.0.0.1:5000/bb:v1"),
            ("127.0.0.1:5000/bb".into(), "v1".into())
        );
        assert_eq!(
            repo_and_tag("docker.io/user/app:2"),
            ("user/app".into(), "2".into())
        );
    }

    #[test]
    fn log_lines() {
        assert_eq!(
            parse_log_line("2024-01-02T03:04:05.123456789Z stdout F hello world"),
            Some(LogLine {
                timestamp: "2024-01-02T03:04:05.123456789Z",
                stderr: false,
                partial: false,
                content: "hello world"
            })
        );
        let p = parse_log_line("t stderr P part").unwrap();
        assert!(p.stderr && p.partial);
        assert_eq!(parse_log_line("t stdout F").unwrap().content, "");
        assert_eq!(parse_log_line("garbage"), None);
        assert_eq!(parse_log_line("t stdin F x"), None);
        let mut buf = b"a\nb\npar".to_vec();
        assert_eq!(take_lines(&mut buf), vec!["a", "b"]);
        assert_eq!(buf, b"par");
        assert!(take_lines(&mut buf).is_empty());
        assert_eq!(tail(&[1, 2, 3], Some(2)), &[2, 3]);
        assert_eq!(tail(&[1, 2, 3], Some(5)), &[1, 2, 3]);
        assert_eq!(tail(&[1, 2, 3], None), &[1, 2, 3]);
    }
}
