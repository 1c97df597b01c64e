//! Node pressure conditions (MemoryPressure, DiskPressure, PIDPressure) from eviction signals,
//! as upstream's eviction manager computes them.
//!
//! Signals are measured on the machine ([`observe`]): `memory.available` from `MemAvailable`
//! in `/proc/meminfo`, `nodefs.*` from statvfs of the kubelet's root dir, `imagefs.*` from
//! statvfs of the image filesystem the runtime names in CRI ImageFsInfo, and `pid.available`
//! as `pid_max` minus the processes in `/proc`. A signal under its hard threshold
//! ([`DEFAULT_EVICTION_HARD`], or `--eviction-hard` with upstream's syntax) puts the node under
//! pressure; the condition stays True for `--eviction-pressure-transition-period` (upstream
//! default 5m) after the signal recovers, so a node does not flap. Everything but [`observe`]
//! is pure.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tinykube_apimachinery::quantity::Quantity;

/// Upstream's default hard eviction thresholds on Linux. Upstream sets none for
/// `pid.available`; PIDPressure then only comes from an explicit `--eviction-hard`.
pub const DEFAULT_EVICTION_HARD: &str = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%";

/// Upstream's default `evictionPressureTransitionPeriod`.
pub const DEFAULT_PRESSURE_TRANSITION_PERIOD: Duration = Duration::from_secs(300);

/// An eviction signal (upstream's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    MemoryAvailable,
    NodeFsAvailable,
    NodeFsInodesFree,
    ImageFsAvailable,
    ImageFsInodesFree,
    PidAvailable,
}

impl Signal {
    pub fn parse(name: &str) -> Option<Signal> {
        Some(match name {
            "memory.available" => Signal::MemoryAvailable,
            "nodefs.available" => Signal::NodeFsAvailable,
            "nodefs.inodesFree" => Signal::NodeFsInodesFree,
            "imagefs.available" => Signal::ImageFsAvailable,
            "imagefs.inodesFree" => Signal::ImageFsInodesFree,
            "pid.available" => Signal::PidAvailable,
            _ => return None,
        })
    }

    /// The node condition this signal drives.
    pub fn condition(self) -> PressureCondition {
        match self {
            Signal::MemoryAvailable => PressureCondition::Memory,
            Signal::PidAvailable => PressureCondition::Pid,
            _ => PressureCondition::Disk,
        }
    }
}

/// The three pressure conditions of a Node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PressureCondition {
    Memory,
    Disk,
    Pid,
}

/// A threshold's value: an absolute amount (bytes, inodes or pids) or a share of capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdValue {
    Quantity(i64),
    Percentage(f64),
}

/// `signal < value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub signal: Signal,
    pub value: ThresholdValue,
}

/// Parses upstream's `--eviction-hard` syntax, `memory.available<100Mi,nodefs.available<10%`.
/// An empty string means no thresholds.
pub fn parse_thresholds(text: &str) -> Result<Vec<Threshold>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('<').ok_or_else(|| {
            format!("{part:?}: expected <signal><<value>, e.g. memory.available<100Mi")
        })?;
        let signal = Signal::parse(name.trim())
            .ok_or_else(|| format!("{part:?}: unknown eviction signal {:?}", name.trim()))?;
        let value = value.trim();
        let value = if let Some(pct) = value.strip_suffix('%') {
            let p: f64 = pct
                .parse()
                .map_err(|_| format!("{part:?}: invalid percentage {value:?}"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("{part:?}: percentage must be within 0%..100%"));
            }
            ThresholdValue::Percentage(p / 100.0)
        } else {
            let q = Quantity::parse(value)
                .map_err(|e| format!("{part:?}: invalid quantity {value:?}: {e}"))?;
            if q.value() < 0 {
                return Err(format!("{part:?}: quantity must not be negative"));
            }
            ThresholdValue::Quantity(q.value())
        };
        if out.iter().any(|t: &Threshold| t.signal == signal) {
            return Err(format!("{part:?}: duplicate threshold for {name}"));
        }
        out.push(Threshold { signal, value });
    }
    Ok(out)
}

/// One measured signal: what is available out of what exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub available: u64,
    pub capacity: u64,
}

/// Every signal that could be measured; missing ones never trigger pressure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations(pub HashMap<Signal, Amount>);

/// Whether `amount` is under `value`.
pub fn threshold_met(value: ThresholdValue, amount: Amount) -> bool {
    match value {
        ThresholdValue::Quantity(q) => (amount.available as i128) < q as i128,
        ThresholdValue::Percentage(p) => (amount.available as f64) < p * amount.capacity as f64,
    }
}

/// The conditions whose thresholds are met by `observations` right now.
pub fn conditions_under_pressure(
    thresholds: &[Threshold],
    observations: &Observations,
) -> Vec<PressureCondition> {
    let mut out = Vec::new();
    for t in thresholds {
        let Some(amount) = observations.0.get(&t.signal) else {
            continue;
        };
        if threshold_met(t.value, *amount) && !out.contains(&t.signal.condition()) {
            out.push(t.signal.condition());
        }
    }
    out
}

/// Remembers when each condition last had a threshold met, for the transition period.
#[derive(Debug, Clone, Default)]
pub struct PressureTracker {
    last_met: HashMap<PressureCondition, Instant>,
}

impl PressureTracker {
    /// Records `met_now` at `now` and answers which conditions are True: met now, or met
    /// less than `period` ago.
    pub fn update(
        &mut self,
        met_now: &[PressureCondition],
        now: Instant,
        period: Duration,
    ) -> Pressure {
        for c in met_now {
            self.last_met.insert(*c, now);
        }
        let held = |c: PressureCondition| {
            self.last_met
                .get(&c)
                .is_some_and(|t| now.saturating_duration_since(*t) < period || met_now.contains(&c))
        };
        Pressure {
            memory: held(PressureCondition::Memory),
            disk: held(PressureCondition::Disk),
            pid: held(PressureCondition::Pid),
        }
    }
}

/// The node's pressure conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

/// `MemAvailable` and `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<Amount> {
    let kb = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    Some(Amount {
        available: kb("MemAvailable:")?,
        capacity: kb("MemTotal:")?,
    })
}

/// Counts the processes in a `/proc` listing (its numeric entries).
pub fn count_processes<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    names
        .into_iter()
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .count() as u64
}

fn statvfs(path: &Path) -> Option<(Amount, Amount)> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frsize = s.fragment_size() as u64;
    Some((
        Amount {
            available: s.blocks_available() as u64 * frsize,
            capacity: s.blocks() as u64 * frsize,
        },
        Amount {
            available: s.files_free() as u64,
            capacity: s.files() as u64,
        },
    ))
}

/// Measures every signal on this machine; `imagefs` is the runtime's image filesystem.
pub fn observe(root_dir: &Path, imagefs: Option<&Path>) -> Observations {
    let mut o = HashMap::new();
    if let Some(m) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t))
    {
        o.insert(Signal::MemoryAvailable, m);
    }
    if let Some((bytes, inodes)) = statvfs(root_dir) {
        o.insert(Signal::NodeFsAvailable, bytes);
        o.insert(Signal::NodeFsInodesFree, inodes);
    }
    if let Some((bytes, inodes)) = imagefs.and_then(statvfs) {
        o.insert(Signal::ImageFsAvailable, bytes);
        o.insert(Signal::ImageFsInodesFree, inodes);
    }
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if let (Some(max), Ok(entries)) = (pid_max, std::fs::read_dir("/proc")) {
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let running = count_processes(names.iter().map(String::as_str));
        o.insert(
            Signal::PidAvailable,
            Amount {
                available: max.saturating_sub(running),
                capacity: max,
            },
        );
    }
    Observations(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;

    fn amount(available: u64, capacity: u64) -> Amount {
        Amount {
            available,
            capacity,
        }
    }

    #[test]
    fn parses_upstream_syntax() {
        let t = parse_thresholds(DEFAULT_EVICTION_HARD).unwrap();
        assert_eq!(
            t,
            vec![
                Threshold {
                    signal: Signal::MemoryAvailable,
                    value: ThresholdValue::Quantity(100 * MI as i64)
                },
                Threshold {
                    signal: Signal::NodeFsAvailable,
                    value: ThresholdValue::Percentage(0.10)
                },
                Threshold {
                    signal: Signal::NodeFsInodesFree,
                    value: ThresholdValue::Percentage(0.05)
                },
                Threshold {
                    signal: Signal::ImageFsAvailable,
                    value: ThresholdValue::Percentage(0.15)
                },
                Threshold {
                    signal: Signal::ImageFsInodesFree,
                    value: ThresholdValue::Percentage(0.05)
                },
            ]
        );
        assert_eq!(parse_thresholds("").unwrap(), vec![]);
        assert_eq!(
            parse_thresholds(" pid.available<1k ").unwrap(),
            vec![Threshold {
                signal: Signal::PidAvailable,
                value: ThresholdValue::Quantity(1000)
            }]
        );
        for (bad, says) in [
            ("memory.available", "expected"),
            ("memory.free<1Gi", "unknown eviction signal"),
            ("nodefs.available<ten%", "invalid percentage"),
            ("nodefs.available<110%", "within 0%..100%"),
            ("memory.available<lots", "invalid quantity"),
            ("memory.available<-1Mi", "negative"),
            ("memory.available<1Mi,memory.available<2Mi", "duplicate"),
        ] {
            let e = parse_thresholds(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn default_thresholds_against_observations() {
        let defaults = parse_thresholds(DEFAULT_EVICTION_HARD).unwrap();
        let healthy = || {
            Observations(HashMap::from([
                (Signal::MemoryAvailable, amount(2 * GI, 4 * GI)),
                (Signal::NodeFsAvailable, amount(50 * GI, 100 * GI)),
                (Signal::NodeFsInodesFree, amount(500_000, 1_000_000)),
                (Signal::ImageFsAvailable, amount(50 * GI, 100 * GI)),
                (Signal::ImageFsInodesFree, amount(500_000, 1_000_000)),
                (Signal::PidAvailable, amount(4_000_000, 4_194_304)),
            ]))
        };
        let with = |signal, a| {
            let mut o = healthy();
            o.0.insert(signal, a);
            o
        };
        use PressureCondition::*;
        // (observations, conditions under pressure)
        let cases = [
            (healthy(), vec![]),
            (Observations::default(), vec![]),
            (
                with(Signal::MemoryAvailable, amount(100 * MI, 4 * GI)),
                vec![],
            ),
            (
                with(Signal::MemoryAvailable, amount(100 * MI - 1, 4 * GI)),
                vec![Memory],
            ),
            (
                with(Signal::NodeFsAvailable, amount(10 * GI, 100 * GI)),
                vec![],
            ),
            (
                with(Signal::NodeFsAvailable, amount(10 * GI - 1, 100 * GI)),
                vec![Disk],
            ),
            (
                with(Signal::NodeFsInodesFree, amount(49_999, 1_000_000)),
                vec![Disk],
            ),
            // 12% free: fine for nodefs (10%), pressure for imagefs (15%).
            (
                with(Signal::ImageFsAvailable, amount(12 * GI, 100 * GI)),
                vec![Disk],
            ),
            (
                with(Signal::ImageFsInodesFree, amount(10, 1_000_000)),
                vec![Disk],
            ),
            // No default threshold for pids.
            (with(Signal::PidAvailable, amount(0, 4_194_304)), vec![]),
        ];
        for (i, (obs, want)) in cases.iter().enumerate() {
            assert_eq!(&conditions_under_pressure(&defaults, obs), want, "case {i}");
        }
        let pids = parse_thresholds("pid.available<10%").unwrap();
        assert_eq!(
            conditions_under_pressure(
                &pids,
                &with(Signal::PidAvailable, amount(400_000, 4_194_304))
            ),
            vec![Pid]
        );
        assert_eq!(
            conditions_under_pressure(
                &pids,
                &with(Signal::PidAvailable, amount(420_000, 4_194_304))
            ),
            vec![]
        );
    }

    #[test]
    fn pressure_holds_for_the_transition_period() {
        use PressureCondition::*;
        let period = Duration::from_secs(300);
        let t0 = Instant::now();
        let mut tracker = PressureTracker::default();
        // (seconds after t0, met now, expected)
        let steps = [
            (0, vec![], Pressure::default()),
            (
                10,
                vec![Disk],
                Pressure {
                    disk: true,
                    ..Default::default()
                },
            ),
            (
                20,
                vec![],
                Pressure {
                    disk: true,
                    ..Default::default()
                },
            ),
            (
                309,
                vec![Memory],
                Pressure {
                    disk: true,
                    memory: true,
                    ..Default::default()
                },
            ),
            (
                310,
                vec![],
                Pressure {
                    memory: true,
                    ..Default::default()
                },
            ),
            (700, vec![], Pressure::default()),
        ];
        for (secs, met, want) in steps {
            let got = tracker.update(&met, t0 + Duration::from_secs(secs), period);
            assert_eq!(got, want, "at {secs}s");
        }
        // A zero period follows the signal exactly.
        let mut tracker = PressureTracker::default();
        assert!(tracker.update(&[Pid], t0, Duration::ZERO).pid);
        assert!(!tracker.update(&[], t0, Duration::ZERO).pid);
    }

    #[test]
    fn machine_readings() {
        let m =
            parse_meminfo("MemTotal:       4000 kB\nMemFree:  10 kB\nMemAvailable:   1000 kB\n");
        assert_eq!(m, Some(amount(1000 * 1024, 4000 * 1024)));
        assert_eq!(parse_meminfo("MemTotal: 4 kB\n"), None);
        assert_eq!(
            count_processes(["1", "42", "self", "sys", "", "7x", "1000"]),
            3
        );
        // This machine: every signal but imagefs is measurable.
        let dir = tempfile::tempdir().unwrap();
        let o = observe(dir.path(), None);
        for s in [
            Signal::MemoryAvailable,
            Signal::NodeFsAvailable,
            Signal::NodeFsInodesFree,
            Signal::PidAvailable,
        ] {
            let a = o.0.get(&s).unwrap_or_else(|| panic!("{s:?} missing"));
            assert!(a.available <= a.capacity, "{s:?} {a:?}");
            // Some filesystems report no inode counts at all.
            assert!(
                a.capacity > 0 || s == Signal::NodeFsInodesFree,
                "{s:?} {a:?}"
            );
        }
        assert!(!o.0.contains_key(&Signal::ImageFsAvailable));
    }
}
