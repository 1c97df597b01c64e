//! `docker run` flag values, parsed as Docker parses them.

use serde::{Deserialize, Serialize};

/// `-p [IP:]HOST:CONTAINER[/PROTO]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub host_ip: String,
    pub host_port: i32,
    pub container_port: i32,
    pub protocol: String,
}

fn port(s: &str, what: &str, spec: &str) -> Result<i32, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(i32::from(p)),
        _ => Err(format!(
            "invalid {what} port {s:?} in -p {spec:?}: must be 1-65535"
        )),
    }
}

/// Parses a `-p` value. Docker's random host port (`-p 80`) and port ranges are not supported:
/// a pod's hostPort is a fixed number.
pub fn parse_publish(spec: &str) -> Result<Publish, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !["tcp", "udp", "sctp"].contains(&protocol.as_str()) {
        return Err(format!(
            "invalid protocol {protocol:?} in -p {spec:?}: tcp, udp or sctp"
        ));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, host, container) = match parts.as_slice() {
        [c] => {
            return Err(format!(
                "-p {spec:?}: give the host port as well (-p HOSTPORT:{c}); random host ports are not supported"
            ))
        }
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(format!("invalid -p {spec:?}: use [IP:]HOSTPORT:CONTAINERPORT[/PROTO]")),
    };
    if host.contains('-') || container.contains('-') {
        return Err(format!("-p {spec:?}: port ranges are not supported"));
    }
    if !host_ip.is_empty() && host_ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("invalid host IP {host_ip:?} in -p {spec:?}"));
    }
    Ok(Publish {
        host_ip: host_ip.to_string(),
        host_port: port(host, "host", spec)?,
        container_port: port(container, "container", spec)?,
        protocol,
    })
}

/// `-v HOSTDIR:CTRDIR[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host_path: String,
    pub container_path: String,
    pub readonly: bool,
}

/// Parses a `-v` bind mount. Named volumes are not supported: the host side is a path.
pub fn parse_volume(spec: &str) -> Result<Volume, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, readonly) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [_, _, mode] => return Err(format!("invalid mode {mode:?} in -v {spec:?}: ro or rw")),
        _ => {
            return Err(format!(
                "invalid -v {spec:?}: use HOSTDIR:CONTAINERDIR[:ro]"
            ))
        }
    };
    if !host.starts_with('/') {
        return Err(format!(
            "-v {spec:?}: the host side must be an absolute path (named volumes are not supported)"
        ));
    }
    if !container.starts_with('/') {
        return Err(format!("-v {spec:?}: the container path must be absolute"));
    }
    Ok(Volume {
        host_path: host.to_string(),
        container_path: container.to_string(),
        readonly,
    })
}

/// Docker's smallest memory limit.
pub const MIN_MEMORY: i64 = 6 << 20;

/// `--memory 500m`: a number with an optional binary unit `b`, `k`, `m`, `g`, `t` (also
/// `kb`, `mb`, ...), as Docker's `RAMInBytes`.
pub fn parse_memory(s: &str) -> Result<i64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid memory {s:?}: use a number with b, k, m or g"))?;
    let mult: f64 = match unit.trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        _ => return Err(format!("invalid memory unit in {s:?}: b, k, m, g or t")),
    };
    if unit.len() > 2 || (unit.len() == 2 && !unit.ends_with('b')) {
        return Err(format!("invalid memory unit in {s:?}: b, k, m, g or t"));
    }
    let bytes = (value * mult) as i64;
    if bytes < MIN_MEMORY {
        return Err(format!(
            "minimum memory limit allowed is 6MB, {s:?} is {bytes} bytes"
        ));
    }
    Ok(bytes)
}

/// CFS period Docker uses with `--cpus`.
pub const CPU_PERIOD: i64 = 100_000;

/// `--cpus 0.5` -> `(period, quota)` = `(100000, 50000)`, as Docker turns NanoCPUs into CFS.
pub fn parse_cpus(s: &str, online_cpus: usize) -> Result<(i64, i64), String> {
    let cpus: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid --cpus {s:?}: a number such as 0.5"))?;
    let nano = (cpus * 1e9).round() as i64;
    if !(0.01..=online_cpus as f64).contains(&cpus) || nano < 10_000_000 {
        return Err(format!(
            "range of CPUs is from 0.01 to {online_cpus}.00, as there are only {online_cpus} CPUs available"
        ));
    }
    Ok((CPU_PERIOD, nano * CPU_PERIOD / 1_000_000_000))
}

/// `-e KEY=VALUE`, or `-e KEY` taking the value from `lookup` (the CLI's environment); a
/// `KEY` that `lookup` does not know is dropped, as Docker does.
pub fn parse_env(
    spec: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    let (key, value) = match spec.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (spec, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid environment variable {spec:?}"));
    }
    Ok(value.or_else(|| lookup(key)).map(|v| (key.to_string(), v)))
}

/// Container names as Docker allows them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. The name also names
/// the pod sandbox, so it must be usable as a hostname too: lowercase it is kept as given.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 63"
        ))
    }
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "gentle", "happy", "jolly", "keen", "lucid", "nifty", "quirky",
    "sharp", "sleepy", "tender", "vivid", "witty", "zealous",
];
const SURNAMES: &[&str] = &[
    "babbage", "curie", "dijkstra", "euler", "hopper", "kepler", "knuth", "lamport", "liskov",
    "lovelace", "noether", "pike", "ritchie", "shannon", "thompson", "turing",
];

/// A Docker-style random name (`eager_turing`) from a random number.
pub fn random_name(n: u64) -> String {
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let s = SURNAMES[((n / ADJECTIVES.len() as u64) % SURNAMES.len() as u64) as usize];
    format!("{a}_{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish() {
        let p = |h: &str, hp, cp, proto: &str| Publish {
            host_ip: h.into(),
            host_port: hp,
            container_port: cp,
            protocol: proto.into(),
        };
        let ok = [
            ("8080:80", p("", 8080, 80, "tcp")),
            ("8080:80/udp", p("", 8080, 80, "udp")),
            ("127.0.0.1:8080:80", p("127.0.0.1", 8080, 80, "tcp")),
            ("53:53/UDP", p("", 53, 53, "udp")),
        ];
        for (spec, want) in ok {
            assert_eq!(parse_publish(spec), Ok(want), "{spec}");
        }
        for bad in [
            "80",
            "a:80",
            "8080:0",
            "8080:70000",
            "8080:80/icmp",
            "8000-8010:80",
            "x.y:1:2",
            "1:2:3:4",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes() {
        assert_eq!(
            parse_volume("/srv/www:/www:ro"),
            Ok(Volume {
                host_path: "/srv/www".into(),
                container_path: "/www".into(),
                readonly: true
            })
        );
        assert!(!parse_volume("/a:/b").unwrap().readonly);
        assert!(!parse_volume("/a:/b:rw").unwrap().readonly);
        for bad in ["data:/b", "/a:b", "/a", "/a:/b:x", "/a:/b:ro:z"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory() {
        let cases = [
            ("500m", 500 << 20),
            ("500M", 500 << 20),
            ("500mb", 500 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("7000k", 7000 << 10),
            ("10485760", 10 << 20),
            ("10485760b", 10 << 20),
        ];
        for (s, want) in cases {
            assert_eq!(parse_memory(s), Ok(want), "{s}");
        }
        for bad in ["", "m", "500x", "5m", "1mbb", "-1g", "1gm"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5", 2), Ok((100_000, 50_000)));
        assert_eq!(parse_cpus(".5", 2), Ok((100_000, 50_000)));
        assert_eq!(parse_cpus("1.25", 2), Ok((100_000, 125_000)));
        assert_eq!(parse_cpus("0.01", 1), Ok((100_000, 1_000)));
        for bad in ["0", "0.001", "3", "x", "-1"] {
            assert!(parse_cpus(bad, 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn env() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(
            parse_env("A=b=c", lookup),
            Ok(Some(("A".into(), "b=c".into())))
        );
        assert_eq!(parse_env("A=", lookup), Ok(Some(("A".into(), "".into()))));
        assert_eq!(
            parse_env("HOME", lookup),
            Ok(Some(("HOME".into(), "/root".into())))
        );
        assert_eq!(parse_env("NOPE", lookup), Ok(None));
        assert!(parse_env("=x", lookup).is_err());
        assert!(parse_env("A B=1", lookup).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("web-1.a_b").is_ok());
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(random_name(0), "brave_babbage");
        assert_eq!(random_name(17), "calm_curie");
        assert!(check_name(&random_name(u64::MAX)).is_ok());
    }
}
