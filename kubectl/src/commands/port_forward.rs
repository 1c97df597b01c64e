//! `kubectl port-forward POD|TYPE/NAME [LOCAL_PORT:]REMOTE_PORT ...`: listens on local ports
//! and forwards each accepted connection to a port of the pod, through the apiserver's
//! `pods/portforward` (kube-rs `Api::<Pod>::portforward`, a WebSocket speaking
//! `v4.channel.k8s.io`), one session per connection.
//!
//! As upstream: `TYPE/NAME` picks a pod of a controller or Service, a Service's port is
//! translated to its `targetPort` (named ones through the pod's container ports), a named
//! remote port is looked up in the pod's containers, `:REMOTE` listens on a free local port,
//! `--address` (default `localhost`, meaning 127.0.0.1 and ::1) says where to listen, and the
//! command prints `Forwarding from 127.0.0.1:8080 -> 80` per listener and
//! `Handling connection for 8080` per connection. It runs until interrupted, or until a
//! forward fails (`error: lost connection to pod`, as upstream).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::Api;
use tokio::net::{TcpListener, TcpStream};

use crate::cli::GlobalFlags;
use crate::commands::exec::resolve_pod;
use crate::error::CliError;
use crate::resources::{split_type_name, Catalog};
use crate::session::Session;

/// Arguments of `kubectl port-forward`.
#[derive(Debug, clap::Args)]
pub struct PortForwardArgs {
    /// Addresses to listen on (comma separated). Only accepts IP addresses or localhost as a
    /// value. When localhost is supplied, kubectl will try to bind on both 127.0.0.1 and ::1
    /// and will fail if neither of these addresses are available to bind.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    pub address: Vec<String>,
    /// The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one
    /// pod is running.
    #[arg(long, default_value = "1m0s")]
    pub pod_running_timeout: String,
    /// TYPE/NAME (or a pod's name), then the ports: [LOCAL_PORT:]REMOTE_PORT.
    #[arg(value_name = "TYPE/NAME [LOCAL_PORT:]REMOTE_PORT")]
    pub args: Vec<String>,
}

/// One port to forward: where to listen locally (0 for a free port) and the pod's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedPort {
    pub local: u16,
    pub remote: u16,
}

/// `[LOCAL:]REMOTE` split as upstream's `splitPort`: the remote part, and the local part as
/// written (the remote one when absent, empty for `:REMOTE`).
pub fn split_port(spec: &str) -> (&str, &str) {
    match spec.split_once(':') {
        Some((local, remote)) => (local, remote),
        None => (spec, spec),
    }
}

/// The number of the pod's container port called `name`.
pub fn container_port_by_name(pod: &Pod, name: &str) -> Result<u16, CliError> {
    pod.spec
        .iter()
        .flat_map(|spec| spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .ok_or_else(|| {
            CliError::usage(format!(
                "Pod '{}' does not have a named port '{name}'",
                pod.metadata.name.as_deref().unwrap_or_default()
            ))
        })
}

/// The port specs with named remote ports replaced by the pod's numbers (upstream's
/// `convertPodNamedPortToNumber`).
pub fn pod_ports(specs: &[String], pod: &Pod) -> Result<Vec<String>, CliError> {
    specs
        .iter()
        .map(|spec| {
            let (local, remote) = split_port(spec);
            if remote.is_empty() {
                return Err(CliError::usage("remote port cannot be empty"));
            }
            let number = match remote.parse::<u16>() {
                Ok(_) => remote.to_string(),
                Err(_) => container_port_by_name(pod, remote)?.to_string(),
            };
            Ok(if local != remote {
                format!("{local}:{number}")
            } else {
                number
            })
        })
        .collect()
}

/// The port specs with each Service port replaced by the pod port it targets (upstream's
/// `translateServicePortToTargetPort`).
pub fn service_ports(
    specs: &[String],
    service: &Service,
    pod: &Pod,
) -> Result<Vec<String>, CliError> {
    let service_name = service.metadata.name.as_deref().unwrap_or_default();
    let spec = service.spec.clone().unwrap_or_default();
    let ports = spec.ports.unwrap_or_default();
    specs
        .iter()
        .map(|port_spec| {
            let (local, remote) = split_port(port_spec);
            let mut local = local.to_string();
            let number: i32 = match remote.parse() {
                Ok(number) => number,
                Err(_) => {
                    let number = ports
                        .iter()
                        .find(|p| p.name.as_deref() == Some(remote))
                        .map(|p| p.port)
                        .ok_or_else(|| {
                            CliError::usage(format!(
                                "Service '{service_name}' does not have a named port '{remote}'"
                            ))
                        })?;
                    if local == remote {
                        local = number.to_string();
                    }
                    number
                }
            };
            let port = ports.iter().find(|p| p.port == number).ok_or_else(|| {
                CliError::usage(format!(
                    "Service {service_name} does not have a service port {number}"
                ))
            })?;
            let target = if spec.cluster_ip.as_deref() == Some("None") {
                number.to_string()
            } else {
                match &port.target_port {
                    None | Some(IntOrString::Int(0)) => number.to_string(),
                    Some(IntOrString::Int(target)) => target.to_string(),
                    Some(IntOrString::String(name)) => {
                        container_port_by_name(pod, name)?.to_string()
                    }
                }
            };
            Ok(if local != target {
                format!("{local}:{target}")
            } else {
                target
            })
        })
        .collect()
}

/// Parses resolved port specs as client-go's `parsePorts` does.
pub fn parse_ports(specs: &[String]) -> Result<Vec<ForwardedPort>, CliError> {
    specs
        .iter()
        .map(|spec| {
            let parts: Vec<&str> = spec.split(':').collect();
            let (local, remote) = match parts.as_slice() {
                [port] => (*port, *port),
                ["", remote] => ("0", *remote),
                [local, remote] => (*local, *remote),
                _ => return Err(CliError::usage(format!("invalid port format '{spec}'"))),
            };
            let local: u16 = local
                .parse()
                .map_err(|e| CliError::usage(format!("error parsing local port '{local}': {e}")))?;
            let remote: u16 = remote.parse().map_err(|e| {
                CliError::usage(format!("error parsing remote port '{remote}': {e}"))
            })?;
            if remote == 0 {
                return Err(CliError::usage("remote port must be > 0"));
            }
            Ok(ForwardedPort { local, remote })
        })
        .collect()
}

/// The IPs of `--address` values: `localhost` is 127.0.0.1 and ::1.
pub fn listen_addresses(values: &[String]) -> Result<Vec<IpAddr>, CliError> {
    let mut addresses = Vec::new();
    for value in values {
        let value = value.trim();
        if value == "localhost" {
            addresses.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
            addresses.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        } else {
            let ip: IpAddr = value
                .parse()
                .map_err(|_| CliError::usage(format!("{value} is not a valid IP")))?;
            addresses.push(ip);
        }
    }
    addresses.dedup();
    Ok(addresses)
}

/// A Service named by `TYPE/NAME`, if that is what it names.
async fn service_of(session: &Session, target: &str) -> Result<Option<Service>, CliError> {
    let (typed, Some(name)) = split_type_name(target) else {
        return Ok(None);
    };
    let catalog = Catalog::discover(&session.client).await?;
    let resource = catalog.resolve(typed)?;
    if !(resource.group.is_empty() && resource.plural == "services") {
        return Ok(None);
    }
    let services: Api<Service> = Api::namespaced(session.client.clone(), &session.namespace);
    Ok(Some(services.get(name).await?))
}

pub async fn run(flags: &GlobalFlags, args: PortForwardArgs) -> Result<(), CliError> {
    if args.args.len() < 2 {
        return Err(CliError::usage(
            "TYPE/NAME and list of ports are required for port-forward\nSee 'kubectl port-forward -h' for help and examples",
        ));
    }
    let addresses = listen_addresses(&args.address)?;
    let session = Session::connect(flags).await?;
    let target = &args.args[0];
    let pod = resolve_pod(&session, target).await?;
    let specs = match service_of(&session, target).await? {
        Some(service) => service_ports(&args.args[1..], &service, &pod)?,
        None => pod_ports(&args.args[1..], &pod)?,
    };
    let ports = parse_ports(&specs)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
    let phase = pods
        .get(&name)
        .await?
        .status
        .and_then(|s| s.phase)
        .unwrap_or_default();
    if phase != "Running" {
        return Err(CliError::usage(format!(
            "unable to forward port because pod is not running. Current status={phase}"
        )));
    }
    let mut listeners = Vec::new();
    for port in ports {
        let mut port = port;
        let mut bound = 0;
        let mut last_error = None;
        for address in &addresses {
            match TcpListener::bind(SocketAddr::new(*address, port.local)).await {
                Ok(listener) => {
                    let local = listener.local_addr().map_err(|e| {
                        CliError::usage(format!("reading a listener's address: {e}"))
                    })?;
                    // `:REMOTE` takes a free port once, then every address uses it.
                    port.local = local.port();
                    println!("Forwarding from {local} -> {}", port.remote);
                    listeners.push((listener, port));
                    bound += 1;
                }
                Err(error) => {
                    eprintln!(
                        "Unable to listen on port {}: Listeners failed to create with the following errors: [unable to create listener: Error listen tcp {}: {error}]",
                        port.local,
                        SocketAddr::new(*address, port.local)
                    );
                    last_error = Some(error);
                }
            }
        }
        if bound == 0 {
            return Err(CliError::usage(format!(
                "unable to listen on any of the requested ports: [{{{} {}}}]{}",
                port.local,
                port.remote,
                last_error.map(|e| format!(": {e}")).unwrap_or_default()
            )));
        }
    }
    // A failed forward ends the command, as upstream's does ("lost connection to pod").
    let (lost, mut lost_connection) = tokio::sync::mpsc::channel::<()>(1);
    let mut accepting = tokio::task::JoinSet::new();
    for (listener, port) in listeners {
        accepting.spawn(accept_loop(
            listener,
            port,
            pods.clone(),
            name.clone(),
            lost.clone(),
        ));
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::usage(format!("watching for SIGTERM: {e}")))?;
    let result = tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = terminate.recv() => Ok(()),
        _ = accepting.join_next() => Ok(()),
        _ = lost_connection.recv() => Err(CliError::usage("lost connection to pod")),
    };
    accepting.abort_all();
    result
}

async fn accept_loop(
    listener: TcpListener,
    port: ForwardedPort,
    pods: Api<Pod>,
    pod: String,
    lost: tokio::sync::mpsc::Sender<()>,
) {
    loop {
        let connection = match listener.accept().await {
            Ok((connection, _)) => connection,
            Err(error) => {
                eprintln!(
                    "error accepting a connection on port {}: {error}",
                    port.local
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        println!("Handling connection for {}", port.local);
        tokio::spawn(forward(
            connection,
            port,
            pods.clone(),
            pod.clone(),
            lost.clone(),
        ));
    }
}

/// Carries one local connection to the pod's port over its own session; an error from the
/// pod's side is printed and reported on `lost`.
async fn forward(
    mut connection: TcpStream,
    port: ForwardedPort,
    pods: Api<Pod>,
    pod: String,
    lost: tokio::sync::mpsc::Sender<()>,
) {
    let failed = move |error: &dyn std::fmt::Display| {
        eprintln!(
            "an error occurred forwarding {} -> {}: {error}",
            port.local, port.remote
        );
    };
    let mut forwarder = match pods.portforward(&pod, &[port.remote]).await {
        Ok(forwarder) => forwarder,
        Err(error) => {
            failed(&format!("error creating stream: {error}"));
            let _ = lost.try_send(());
            return;
        }
    };
    let (Some(mut remote), Some(remote_error)) = (
        forwarder.take_stream(port.remote),
        forwarder.take_error(port.remote),
    ) else {
        return;
    };
    let errors = tokio::spawn(async move {
        match remote_error.await {
            Some(message) => {
                failed(&message);
                true
            }
            None => false,
        }
    });
    let _ = tokio::io::copy_bidirectional(&mut connection, &mut remote).await;
    drop(remote);
    let _ = forwarder.join().await;
    if let Ok(true) = errors.await {
        let _ = lost.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1"},
            "spec": {"containers": [
                {"name": "a", "ports": [{"name": "http", "containerPort": 8080}]},
                {"name": "b", "ports": [{"name": "metrics", "containerPort": 9090}]}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn port_specs_parse_like_client_go() {
        let port = |local, remote| ForwardedPort { local, remote };
        type Case<'a> = (&'a [&'a str], Result<Vec<ForwardedPort>, &'a str>);
        let cases: &[Case] = &[
            (&["80"], Ok(vec![port(80, 80)])),
            (&["8080:80", ":5000"], Ok(vec![port(8080, 80), port(0, 5000)])),
            (&["1:2:3"], Err("error: invalid port format '1:2:3'")),
            (
                &["x:80"],
                Err("error: error parsing local port 'x': invalid digit found in string"),
            ),
            (
                &["80:70000"],
                Err("error: error parsing remote port '70000': number too large to fit in target type"),
            ),
            (&["8080:0"], Err("error: remote port must be > 0")),
        ];
        for (specs, want) in cases {
            let got = parse_ports(&strings(specs)).map_err(|e| e.to_string());
            assert_eq!(got, want.clone().map_err(String::from), "{specs:?}");
        }
    }

    #[test]
    fn named_pod_ports_become_numbers() {
        type Case<'a> = (&'a [&'a str], Result<&'a [&'a str], &'a str>);
        let cases: &[Case] = &[
            (&["http"], Ok(&["8080"])),
            (&["9000:metrics", "80"], Ok(&["9000:9090", "80"])),
            (&[":http"], Ok(&[":8080"])),
            (
                &["nope"],
                Err("error: Pod 'web-1' does not have a named port 'nope'"),
            ),
            (&["8080:"], Err("error: remote port cannot be empty")),
        ];
        for (specs, want) in cases {
            let got = pod_ports(&strings(specs), &pod()).map_err(|e| e.to_string());
            let want = want.map(strings).map_err(String::from);
            assert_eq!(got, want, "{specs:?}");
        }
    }

    #[test]
    fn service_ports_become_their_target_ports() {
        let service = |cluster_ip: &str| -> Service {
            serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"clusterIP": cluster_ip, "ports": [
                    {"name": "web", "port": 80, "targetPort": "http"},
                    {"name": "plain", "port": 81, "targetPort": 8081},
                    {"name": "same", "port": 82}
                ]}
            }))
            .unwrap()
        };
        type Case<'a> = (&'a str, &'a [&'a str], Result<&'a [&'a str], &'a str>);
        let cases: &[Case] = &[
            ("10.96.0.10", &["80"], Ok(&["80:8080"])),
            ("10.96.0.10", &["9000:80"], Ok(&["9000:8080"])),
            ("10.96.0.10", &["web"], Ok(&["80:8080"])),
            ("10.96.0.10", &["81", "82"], Ok(&["81:8081", "82"])),
            ("None", &["80"], Ok(&["80"])),
            (
                "10.96.0.10",
                &["8080"],
                Err("error: Service web does not have a service port 8080"),
            ),
            (
                "10.96.0.10",
                &["https"],
                Err("error: Service 'web' does not have a named port 'https'"),
            ),
        ];
        for (cluster_ip, specs, want) in cases {
            let got = service_ports(&strings(specs), &service(cluster_ip), &pod())
                .map_err(|e| e.to_string());
            let want = want.map(strings).map_err(String::from);
            assert_eq!(got, want, "{cluster_ip} {specs:?}");
        }
    }

    #[test]
    fn localhost_means_both_loopbacks() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            listen_addresses(&strings(&["localhost"])).unwrap(),
            vec![v4, v6]
        );
        assert_eq!(
            listen_addresses(&strings(&["127.0.0.1", "10.0.0.1"])).unwrap(),
            vec![v4, "10.0.0.1".parse().unwrap()]
        );
        assert_eq!(
            listen_addresses(&strings(&["example.com"]))
                .unwrap_err()
                .to_string(),
            "error: example.com is not a valid IP"
        );
    }
}
