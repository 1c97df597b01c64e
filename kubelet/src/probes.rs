//! Liveness, readiness and startup probes: exec (ExecSync), httpGet and tcpSocket, with
//! initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold and successThreshold.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tinykube_cri_proto::v1 as cri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::Cri;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

/// The running tally of one probe of one container instance.
#[derive(Debug, Clone)]
pub struct ProbeState {
    pub container_id: String,
    pub started: Instant,
    pub next: Instant,
    pub successes: i32,
    pub failures: i32,
    /// The current verdict (readiness starts false, liveness/startup start true/false).
    pub ok: bool,
    pub last_message: String,
}

impl ProbeState {
    pub fn new(kind: Kind, container_id: &str, probe: &Probe, now: Instant) -> Self {
        ProbeState {
            container_id: container_id.to_string(),
            started: now,
            next: now + Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64),
            successes: 0,
            failures: 0,
            ok: kind == Kind::Liveness,
            last_message: String::new(),
        }
    }

    /// Records one result; returns whether the verdict changed.
    pub fn record(&mut self, probe: &Probe, success: bool, message: String, now: Instant) -> bool {
        self.next = now + Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
        let before = self.ok;
        if success {
            self.failures = 0;
            self.successes += 1;
            if self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                self.ok = true;
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            self.last_message = message;
            if self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                self.ok = false;
            }
        }
        before != self.ok
    }
}

fn port_of(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

/// Runs `probe` once against container `id` at `pod_ip`. Returns success and a message.
pub async fn run(
    cri: &Cri,
    probe: &Probe,
    c: &Container,
    id: &str,
    pod_ip: &str,
) -> (bool, String) {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let r = cri
            .rt()
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.clone(),
                timeout: timeout.as_secs() as i64,
            })
            .await;
        return match r {
            Ok(r) => {
                let r = r.into_inner();
                let out = String::from_utf8_lossy(&r.stdout).into_owned()
                    + &String::from_utf8_lossy(&r.stderr);
                (
                    r.exit_code == 0,
                    format!(
                        "command {cmd:?} exited with {}: {}",
                        r.exit_code,
                        out.trim()
                    ),
                )
            }
            Err(e) => (false, format!("exec {cmd:?}: {}", e.message())),
        };
    }
    if let Some(h) = &probe.http_get {
        let Some(port) = port_of(&h.port, c) else {
            return (false, "invalid port".into());
        };
        let host = h
            .host
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let fut = async {
            let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
            for hd in h.http_headers.iter().flatten() {
                req.push_str(&format!("{}: {}\r\n", hd.name, hd.value));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes()).await?;
            let mut buf = vec![0u8; 1024];
            let mut got = Vec::new();
            while got.len() < 64 {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&got).into_owned())
        };
        return match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(resp)) => {
                let code: u16 = resp
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                (
                    (200..400).contains(&code),
                    format!("HTTP probe failed with statuscode: {code}"),
                )
            }
            Ok(Err(e)) => (false, format!("Get \"http://{host}:{port}{path}\": {e}")),
            Err(_) => (
                false,
                format!("Get \"http://{host}:{port}{path}\": timeout"),
            ),
        };
    }
    if let Some(t) = &probe.tcp_socket {
        let Some(port) = port_of(&t.port, c) else {
            return (false, "invalid port".into());
        };
        let host = t
            .host
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        return match tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => (true, String::new()),
            Ok(Err(e)) => (false, format!("dial tcp {host}:{port}: {e}")),
            Err(_) => (false, format!("dial tcp {host}:{port}: timeout")),
        };
    }
    (true, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let probe = Probe {
            failure_threshold: Some(2),
            success_threshold: Some(2),
            period_seconds: Some(1),
            ..Default::default()
        };
        let now = Instant::now();
        let mut s = ProbeState::new(Kind::Readiness, "c", &probe, now);
        assert!(!s.ok);
        assert!(!s.record(&probe, true, String::new(), now));
        assert!(s.record(&probe, true, String::new(), now));
        assert!(s.ok);
        assert!(!s.record(&probe, false, "x".into(), now));
        assert!(s.record(&probe, false, "x".into(), now));
        assert!(!s.ok);
        let mut l = ProbeState::new(Kind::Liveness, "c", &probe, now);
        assert!(l.ok);
        l.record(&probe, false, String::new(), now);
        assert!(l.ok);
    }
}
