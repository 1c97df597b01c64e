//! Port-forward sessions: where the URL that the CRI `PortForward` rpc returns leads.
//!
//! As upstream's CRI streaming server does, `PortForward` checks the request and parks it under
//! a one-time token on the streaming server ([`crate::streaming`]), answering
//! `http://<address>/portforward/<token>`; the kubelet proxies its client's WebSocket upgrade
//! there. Each forwarded connection is one TCP connection to `127.0.0.1:<port>` inside the
//! pod's network namespace (entered on a thread of its own, see
//! [`crate::sys::connect_in_netns`]); a port that cannot be reached gets upstream's message
//! (`error forwarding port ...`) on its error stream. Two protocols are spoken:
//!
//! - `v4.channel.k8s.io` (or no subprotocol), what kube-rs and our kubectl use: the ports come
//!   with the request, two channels per port in request order — `2i` carries the data of port
//!   `i` both ways, `2i+1` is its error channel — and the first message on each is the port as
//!   two little-endian bytes. One connection per port; the session ends when every port's
//!   connection is done or the client closes.
//! - `SPDY/3.1+portforward.k8s.io`, what the real kubectl (1.30+) asks for: SPDY/3.1 frames
//!   ([`crate::spdy`]) carried in binary WebSocket messages. The client opens a pair of
//!   streams per local connection, headers `streamType` (`error`, `data`), `port` and
//!   `requestID`; each pair is one connection to the pod, and the server half-closes both
//!   streams when the pod's side is done. Pings are answered; the session lasts until the
//!   client leaves. (Plain SPDY, kubectl's fallback when the WebSocket upgrade is refused, is
//!   not spoken.)

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use tinykube_cri_proto::v1 as cri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::spdy;
use crate::streaming::{close_session, split_session, CHUNK};

/// The WebSocket subprotocol of port-forward sessions.
pub const PROTOCOL: &str = "v4.channel.k8s.io";
/// How long connecting to a port in the pod may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Two channels per port, numbered in one byte.
const MAX_PORTS: usize = 127;

/// Checks a PortForward request: a sandbox, and ports that are TCP port numbers (none is fine:
/// SPDY clients name their ports per stream; a channel session then refuses the upgrade).
pub fn validate(request: &cri::PortForwardRequest) -> Result<Vec<u16>, String> {
    if request.pod_sandbox_id.is_empty() {
        return Err("missing required pod_sandbox_id".into());
    }
    if request.port.len() > MAX_PORTS {
        return Err(format!(
            "{} ports requested; at most {MAX_PORTS} fit the channel numbers",
            request.port.len()
        ));
    }
    request
        .port
        .iter()
        .map(|&port| {
            u16::try_from(port)
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("port {port} is not a valid port number"))
        })
        .collect()
}

/// The SPDY-over-WebSocket subprotocol of port-forwarding (client-go's tunnelling prefix
/// `SPDY/3.1+` and the stream protocol `portforward.k8s.io`).
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// How a session's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Two channels per requested port, with the subprotocol to answer (`None`: the client
    /// offered none).
    Channels(Option<&'static str>),
    /// SPDY/3.1 in binary WebSocket messages.
    SpdyTunnel,
}

impl Protocol {
    /// The `Sec-WebSocket-Protocol` to answer, if any.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Protocol::Channels(name) => name,
            Protocol::SpdyTunnel => Some(SPDY_TUNNEL_PROTOCOL),
        }
    }
}

/// The protocol for the client's `Sec-WebSocket-Protocol` values: the first offered that we
/// speak, binary channels when none was offered (as upstream), else the refusal's message.
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Result<Protocol, String> {
    let names: Vec<&str> = offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(Protocol::Channels(None));
    }
    names
        .iter()
        .find_map(|&name| match name {
            PROTOCOL => Some(Protocol::Channels(Some(PROTOCOL))),
            SPDY_TUNNEL_PROTOCOL => Some(Protocol::SpdyTunnel),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "requested protocol(s) are not supported: {names:?}; supports [{PROTOCOL} {SPDY_TUNNEL_PROTOCOL}]"
            )
        })
}

/// The data channel of the `index`th port; its error channel is the next one.
pub fn data_channel(index: usize) -> u8 {
    (2 * index) as u8
}

/// The messages that open a session: on each port's data and error channel, the port number
/// in two little-endian bytes.
pub fn opening_frames(ports: &[u16]) -> Vec<Vec<u8>> {
    ports
        .iter()
        .enumerate()
        .flat_map(|(index, port)| {
            let [low, high] = port.to_le_bytes();
            let data = data_channel(index);
            [vec![data, low, high], vec![data + 1, low, high]]
        })
        .collect()
}

/// One binary message of the client, by channel.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Bytes for the `index`th port.
    Data { index: usize, data: &'a [u8] },
    /// Empty, an error channel, or a channel no requested port has.
    Ignored,
}

/// Reads one client message of a session forwarding `ports` ports.
pub fn parse_client_frame(data: &[u8], ports: usize) -> ClientFrame<'_> {
    match data {
        [channel, rest @ ..] if channel % 2 == 0 && usize::from(channel / 2) < ports => {
            ClientFrame::Data {
                index: usize::from(channel / 2),
                data: rest,
            }
        }
        _ => ClientFrame::Ignored,
    }
}

/// What the error channel says when a port cannot be forwarded: upstream's wording, with the
/// sandbox as the pod and no uid, as the CRI streaming server reports it.
pub fn error_message(port: u16, sandbox_id: &str, error: &str) -> String {
    format!("error forwarding port {port} to pod {sandbox_id}, uid : {error}")
}

/// A PortForward request waiting for its client to connect.
#[derive(Debug, Clone)]
pub struct PendingPortForward {
    pub sandbox_id: String,
    /// The pod's network namespace; `None` for a host-network pod.
    pub netns: Option<PathBuf>,
    pub ports: Vec<u16>,
}

/// Connects to `127.0.0.1:port` in the pod's network namespace; the error is upstream's
/// message for the port's error stream.
async fn connect_to_pod(forward: &PendingPortForward, port: u16) -> Result<TcpStream, String> {
    connect(forward.netns.clone(), port).await.map_err(|error| {
        let message = error_message(
            port,
            &forward.sandbox_id,
            &format!("connect to 127.0.0.1:{port} in the pod's network namespace: {error}"),
        );
        tracing::debug!(%message, "port-forward failed");
        message
    })
}

/// Connects to `127.0.0.1:port` in the pod's network namespace.
pub async fn connect(netns: Option<PathBuf>, port: u16) -> io::Result<TcpStream> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = match netns {
        None => tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))??,
        Some(netns) => {
            let stream = tokio::task::spawn_blocking(move || {
                crate::sys::connect_in_netns(&netns, address, CONNECT_TIMEOUT)
            })
            .await
            .map_err(io::Error::other)??;
            stream.set_nonblocking(true)?;
            TcpStream::from_std(stream)?
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Copies the pod's bytes of one port to the client until the pod closes the connection.
async fn pod_to_client(
    channel: u8,
    mut from_pod: tokio::net::tcp::OwnedReadHalf,
    out: mpsc::Sender<Message>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from_pod.read(&mut buf[1..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf[0] = channel;
        if out.send(Message::binary(buf[..=n].to_vec())).await.is_err() {
            return;
        }
    }
}

/// Writes the client's bytes of one port to the pod; the end of the channel (the client
/// left) is the end of the pod's input.
async fn client_to_pod(
    mut to_pod: tokio::net::tcp::OwnedWriteHalf,
    mut data: mpsc::Receiver<Vec<u8>>,
) {
    while let Some(chunk) = data.recv().await {
        if to_pod.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = to_pod.shutdown().await;
}

/// Serves one session until every port is done or the client leaves.
pub async fn run_session(ws: WebSocketStream<TcpStream>, forward: PendingPortForward) {
    let (mut incoming, out, writer) = split_session(ws);
    for frame in opening_frames(&forward.ports) {
        let _ = out.send(Message::binary(frame)).await;
    }
    let mut to_pods: Vec<Option<mpsc::Sender<Vec<u8>>>> = Vec::new();
    let mut from_pods = JoinSet::new();
    for (index, &port) in forward.ports.iter().enumerate() {
        match connect_to_pod(&forward, port).await {
            Ok(stream) => {
                let (read, write) = stream.into_split();
                let (sender, receiver) = mpsc::channel::<Vec<u8>>(16);
                tokio::spawn(client_to_pod(write, receiver));
                from_pods.spawn(pod_to_client(data_channel(index), read, out.clone()));
                to_pods.push(Some(sender));
            }
            Err(message) => {
                let mut frame = vec![data_channel(index) + 1];
                frame.extend_from_slice(message.as_bytes());
                let _ = out.send(Message::binary(frame)).await;
                to_pods.push(None);
            }
        }
    }
    let client_left = loop {
        if from_pods.is_empty() {
            break false;
        }
        tokio::select! {
            _ = from_pods.join_next() => {}
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if let ClientFrame::Data { index, data } =
                        parse_client_frame(&data, forward.ports.len())
                    {
                        if let Some(sender) = &to_pods[index] {
                            if !data.is_empty() && sender.send(data.to_vec()).await.is_err() {
                                to_pods[index] = None;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break true,
                Some(Ok(_)) => {}
            }
        }
    };
    // Dropping the senders ends each pod connection's input (a FIN to the pod).
    drop(to_pods);
    from_pods.abort_all();
    if client_left {
        drop(out);
        let _ = writer.await;
        return;
    }
    close_session(out, writer, &mut incoming).await;
}

/// Which stream of a pair a SPDY stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Error,
    Data,
}

/// A stream the client opened, as its headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// Pairs the error and data streams of one forwarded connection.
    pub request_id: String,
    pub kind: StreamKind,
    pub port: u16,
}

/// Reads a new stream's headers as upstream's kubelet does (`port` 1-65535 and `streamType`
/// `error` or `data` required); without `requestID` (old clients) the pair is guessed from
/// the stream ids, the data stream following its error stream.
pub fn classify_stream(stream_id: u32, headers: &spdy::Headers) -> Result<StreamRequest, String> {
    let port = spdy::header(headers, "port")
        .filter(|p| !p.is_empty())
        .ok_or("\"port\" header is required")?;
    let port = match port.parse::<u16>() {
        Ok(0) => return Err(format!("port {port:?} must be > 0")),
        Ok(port) => port,
        Err(e) => return Err(format!("unable to parse {port:?} as a port: {e}")),
    };
    let kind = match spdy::header(headers, "streamtype").unwrap_or("") {
        "" => return Err("\"streamType\" header is required".into()),
        "error" => StreamKind::Error,
        "data" => StreamKind::Data,
        other => return Err(format!("invalid stream type {other:?}")),
    };
    let request_id = match spdy::header(headers, "requestid").filter(|r| !r.is_empty()) {
        Some(id) => id.to_string(),
        None if kind == StreamKind::Error => stream_id.to_string(),
        None => stream_id.saturating_sub(2).to_string(),
    };
    Ok(StreamRequest {
        request_id,
        kind,
        port,
    })
}

/// The streams of one forwarded connection while they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
    /// The client's bytes for the pod; dropping it half-closes the pod connection.
    to_pod: Option<mpsc::Sender<Vec<u8>>>,
    forwarding: Option<tokio::task::AbortHandle>,
}

/// Serves one SPDY-over-WebSocket session until the client leaves.
pub async fn run_spdy_session(ws: WebSocketStream<TcpStream>, forward: PendingPortForward) {
    let (mut incoming, out, writer) = split_session(ws);
    let mut decoder = spdy::Decoder::default();
    let mut encoder = spdy::Encoder::default();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut streams: HashMap<u32, String> = HashMap::new();
    let mut forwarding = JoinSet::new();
    'session: loop {
        let message = tokio::select! {
            message = incoming.next() => message,
            Some(done) = forwarding.join_next(), if !forwarding.is_empty() => {
                if let Ok(request_id) = done {
                    if let Some(pair) = pairs.remove(&request_id) {
                        streams.retain(|id, _| Some(*id) != pair.error && Some(*id) != pair.data);
                    }
                }
                continue;
            }
        };
        let data = match message {
            Some(Ok(Message::Binary(data))) => data,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        decoder.push(&data);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "bad SPDY frame; ending the session");
                    let _ = out.send(Message::binary(spdy::Encoder::goaway(0, 1))).await;
                    break 'session;
                }
            };
            match frame {
                spdy::Frame::SynStream {
                    stream_id, headers, ..
                } => {
                    let request = match classify_stream(stream_id, &headers) {
                        Ok(request) => request,
                        Err(reason) => {
                            tracing::debug!(stream_id, %reason, "refusing a stream");
                            let reset = spdy::Encoder::rst_stream(stream_id, spdy::RST_CANCEL);
                            let _ = out.send(Message::binary(reset)).await;
                            continue;
                        }
                    };
                    let pair = pairs.entry(request.request_id.clone()).or_default();
                    let slot = match request.kind {
                        StreamKind::Error => &mut pair.error,
                        StreamKind::Data => &mut pair.data,
                    };
                    if slot.is_some() {
                        let reset = spdy::Encoder::rst_stream(stream_id, spdy::RST_PROTOCOL_ERROR);
                        let _ = out.send(Message::binary(reset)).await;
                        continue;
                    }
                    *slot = Some(stream_id);
                    if request.kind == StreamKind::Data {
                        pair.port = request.port;
                    }
                    streams.insert(stream_id, request.request_id.clone());
                    let reply = encoder.syn_reply(stream_id, 0, &Vec::new());
                    let _ = out.send(Message::binary(reply)).await;
                    if let (Some(error), Some(data)) = (pair.error, pair.data) {
                        let (sender, receiver) = mpsc::channel::<Vec<u8>>(16);
                        pair.to_pod = Some(sender);
                        let handle = forwarding.spawn(forward_pair(
                            request.request_id.clone(),
                            forward.clone(),
                            pair.port,
                            (error, data),
                            receiver,
                            out.clone(),
                        ));
                        pair.forwarding = Some(handle);
                    }
                }
                spdy::Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    let Some(pair) = streams.get(&stream_id).and_then(|r| pairs.get_mut(r)) else {
                        continue;
                    };
                    if pair.data != Some(stream_id) {
                        // The client writes nothing on the error stream but its close.
                        continue;
                    }
                    if let Some(to_pod) = &pair.to_pod {
                        if !data.is_empty() && to_pod.send(data).await.is_err() {
                            pair.to_pod = None;
                        }
                    }
                    if flags & spdy::FLAG_FIN != 0 {
                        pair.to_pod = None;
                    }
                }
                spdy::Frame::RstStream { stream_id, .. } => {
                    if let Some(request_id) = streams.remove(&stream_id) {
                        if let Some(pair) = pairs.remove(&request_id) {
                            if let Some(handle) = pair.forwarding {
                                handle.abort();
                            }
                            streams.retain(|_, r| *r != request_id);
                        }
                    }
                }
                spdy::Frame::Ping { id } => {
                    let _ = out.send(Message::binary(spdy::Encoder::ping(id))).await;
                }
                spdy::Frame::GoAway { .. } => break 'session,
                spdy::Frame::SynReply { .. }
                | spdy::Frame::Headers { .. }
                | spdy::Frame::Other { .. } => {}
            }
        }
    }
    forwarding.abort_all();
    drop(out);
    let _ = writer.await;
}

/// Forwards one pair of streams: connects to the pod's port and copies until the pod's side
/// is done, then half-closes both streams (the client's end of `to_pod` is its end of
/// input). A port that cannot be reached gets upstream's message on the error stream.
async fn forward_pair(
    request_id: String,
    forward: PendingPortForward,
    port: u16,
    (error_stream, data_stream): (u32, u32),
    to_pod: mpsc::Receiver<Vec<u8>>,
    out: mpsc::Sender<Message>,
) -> String {
    let send = |frame: Vec<u8>| {
        let out = out.clone();
        async move { out.send(Message::binary(frame)).await.is_ok() }
    };
    match connect_to_pod(&forward, port).await {
        Err(message) => {
            send(spdy::Encoder::data(error_stream, 0, message.as_bytes())).await;
        }
        Ok(stream) => {
            let (mut read, write) = stream.into_split();
            let feeding = tokio::spawn(client_to_pod(write, to_pod));
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !send(spdy::Encoder::data(data_stream, 0, &buf[..n])).await {
                    break;
                }
            }
            // As upstream's runtimes do: the other direction gets a moment to finish.
            let abort = feeding.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), feeding)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
    send(spdy::Encoder::data(data_stream, spdy::FLAG_FIN, b"")).await;
    send(spdy::Encoder::data(error_stream, spdy::FLAG_FIN, b"")).await;
    request_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_a_sandbox_and_real_ports() {
        let request = |id: &str, ports: &[i32]| cri::PortForwardRequest {
            pod_sandbox_id: id.into(),
            port: ports.to_vec(),
        };
        let cases: &[(cri::PortForwardRequest, Result<Vec<u16>, &str>)] = &[
            (request("sb", &[80, 8080]), Ok(vec![80, 8080])),
            (request("sb", &[65535]), Ok(vec![65535])),
            (request("", &[80]), Err("missing required pod_sandbox_id")),
            (request("sb", &[]), Ok(vec![])),
            (
                request("sb", &[0]),
                Err("port 0 is not a valid port number"),
            ),
            (
                request("sb", &[80, 65536]),
                Err("port 65536 is not a valid port number"),
            ),
            (
                request("sb", &[-1]),
                Err("port -1 is not a valid port number"),
            ),
            (
                request("sb", &[80; 128]),
                Err("128 ports requested; at most 127 fit the channel numbers"),
            ),
        ];
        for (request, want) in cases {
            let want = want.clone().map_err(String::from);
            assert_eq!(validate(request), want, "{request:?}");
        }
    }

    #[test]
    fn channels_or_the_spdy_tunnel_are_spoken() {
        let channels = Ok(Protocol::Channels(Some(PROTOCOL)));
        let cases: &[(&[&str], Result<Protocol, ()>)] = &[
            (&[], Ok(Protocol::Channels(None))),
            (&[""], Ok(Protocol::Channels(None))),
            (&["v5.channel.k8s.io, v4.channel.k8s.io"], channels),
            (&["v4.channel.k8s.io"], channels),
            (&["SPDY/3.1+portforward.k8s.io"], Ok(Protocol::SpdyTunnel)),
            (
                &["SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io"],
                Ok(Protocol::SpdyTunnel),
            ),
            (&["v5.channel.k8s.io"], Err(())),
            (&["portforward.k8s.io"], Err(())),
        ];
        for (offered, want) in cases {
            assert_eq!(
                negotiate(offered.iter().copied()).map_err(|_| ()),
                *want,
                "{offered:?}"
            );
        }
        assert_eq!(Protocol::SpdyTunnel.name(), Some(SPDY_TUNNEL_PROTOCOL));
        assert_eq!(Protocol::Channels(None).name(), None);
    }

    #[test]
    fn each_port_opens_its_two_channels_with_its_number() {
        assert_eq!(
            opening_frames(&[80, 0x1f90]),
            vec![
                vec![0, 80, 0],
                vec![1, 80, 0],
                vec![2, 0x90, 0x1f],
                vec![3, 0x90, 0x1f]
            ]
        );
        assert!(opening_frames(&[]).is_empty());
    }

    #[test]
    fn client_messages_are_read_by_port() {
        let cases: &[(&[u8], usize, ClientFrame)] = &[
            (
                b"\x00GET /",
                1,
                ClientFrame::Data {
                    index: 0,
                    data: b"GET /",
                },
            ),
            (
                b"\x02hi",
                2,
                ClientFrame::Data {
                    index: 1,
                    data: b"hi",
                },
            ),
            (
                b"\x00",
                1,
                ClientFrame::Data {
                    index: 0,
                    data: b"",
                },
            ),
            (b"\x01oops", 1, ClientFrame::Ignored),
            (b"\x02hi", 1, ClientFrame::Ignored),
            (b"", 1, ClientFrame::Ignored),
        ];
        for (data, ports, want) in cases {
            assert_eq!(parse_client_frame(data, *ports), *want, "{data:?}");
        }
    }

    #[test]
    fn spdy_streams_are_read_like_upstreams_kubelet() {
        let headers = |pairs: &[(&str, &str)]| -> spdy::Headers {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let request = |id: &str, kind, port| StreamRequest {
            request_id: id.into(),
            kind,
            port,
        };
        let cases = [
            (
                1,
                headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
                Ok(request("0", StreamKind::Error, 80)),
            ),
            (
                3,
                headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
                Ok(request("0", StreamKind::Data, 80)),
            ),
            (
                5,
                headers(&[("streamtype", "error"), ("port", "8080")]),
                Ok(request("5", StreamKind::Error, 8080)),
            ),
            (
                7,
                headers(&[("streamtype", "data"), ("port", "8080")]),
                Ok(request("5", StreamKind::Data, 8080)),
            ),
            (
                1,
                headers(&[("streamtype", "data")]),
                Err("\"port\" header is required"),
            ),
            (
                1,
                headers(&[("streamtype", "data"), ("port", "0")]),
                Err("port \"0\" must be > 0"),
            ),
            (
                1,
                headers(&[("streamtype", "data"), ("port", "http")]),
                Err("unable to parse \"http\" as a port: invalid digit found in string"),
            ),
            (
                1,
                headers(&[("port", "80")]),
                Err("\"streamType\" header is required"),
            ),
            (
                1,
                headers(&[("streamtype", "resize"), ("port", "80")]),
                Err("invalid stream type \"resize\""),
            ),
        ];
        for (id, headers, want) in cases {
            assert_eq!(
                classify_stream(id, &headers),
                want.map_err(String::from),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn errors_use_upstreams_wording() {
        assert_eq!(
            error_message(80, "abc", "connection refused"),
            "error forwarding port 80 to pod abc, uid : connection refused"
        );
    }
}
