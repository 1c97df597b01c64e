//! The runtime's streaming server: where the URLs that the CRI `Exec`, `Attach` and
//! `PortForward` rpcs return lead (attach sessions are relayed to the container's shim by
//! [`crate::attach`], port-forward sessions served by [`crate::portforward`]).
//!
//! As upstream's CRI streaming server does, `Exec` checks the request and parks it under a
//! random one-time token (valid for [`TOKEN_TTL`]), answering `http://<address>/exec/<token>`;
//! the kubelet proxies its client's WebSocket upgrade there. The connection then speaks the
//! Kubernetes remotecommand WebSocket protocol, `v5.channel.k8s.io` (what kubectl asks for) or
//! `v4.channel.k8s.io`: every binary message starts with a channel byte — 0 stdin, 1 stdout,
//! 2 stderr, 3 error (one `metav1.Status` JSON once the command ended: `Success`, or `Failure`
//! with reason `NonZeroExitCode` and the code in `details.causes`), 4 resize
//! (`{"Width":..,"Height":..}`) — and v5 adds 255, close-stream, whose second byte names the
//! channel the client has finished with (stdin: the command's stdin is closed).
//!
//! The command runs through the `nsexec` helper, as ExecSync does. With tty=1 it gets a pty
//! allocated from the container's own devpts instance (so `tty` inside prints `/dev/pts/N`)
//! and resize messages become `TIOCSWINSZ`; without, stdout and stderr are separate pipes.
//! The server listens on loopback TCP (`--streaming-address`, by default a free port on
//! 127.0.0.1); in a node's network namespace that is the node's loopback, shared with its
//! kubelet.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tinykube_cri_proto::v1 as cri;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use crate::attach::PendingAttach;
use crate::error::{IoContext, Result, RuntimeError};
use crate::manager::Runtime;
use crate::portforward::{self, PendingPortForward};

/// Channel of the command's stdin (client to server).
pub const STDIN: u8 = 0;
/// Channel of the command's stdout (and of the terminal with tty=1).
pub const STDOUT: u8 = 1;
/// Channel of the command's stderr.
pub const STDERR: u8 = 2;
/// Channel of the final `Status` (server to client).
pub const ERROR: u8 = 3;
/// Channel of terminal size changes (client to server).
pub const RESIZE: u8 = 4;
/// v5: "I am done with the channel in the next byte".
pub const CLOSE_STREAM: u8 = 255;

/// How long an Exec URL stays usable (upstream's streaming server: one minute).
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How long a tty session waits for the client's first terminal size before it starts the
/// command. kubectl sends its size right after connecting; starting after it means the command
/// sees the right size from its first instruction (`stty size` does not race the resize).
const FIRST_SIZE_WAIT: Duration = Duration::from_secs(1);
/// How long output may keep flowing once the command exited: a background process it left
/// behind may hold the pipes or the terminal open forever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// How long to wait for the client to answer our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Largest chunk of output (exec) or pod data (port-forward) sent in one message.
pub(crate) const CHUNK: usize = 32 * 1024;

/// A remotecommand WebSocket subprotocol we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V5,
    V4,
}

impl Protocol {
    /// The `Sec-WebSocket-Protocol` name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V5 => "v5.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
        }
    }

    /// Whether the client may close one channel with [`CLOSE_STREAM`].
    pub fn supports_stream_close(self) -> bool {
        self == Protocol::V5
    }
}

/// The subprotocol for the client's `Sec-WebSocket-Protocol` header values (each possibly a
/// comma-separated list): the first one offered that we speak, as upstream's handshake picks.
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Protocol> {
    offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find_map(|name| {
            [Protocol::V5, Protocol::V4]
                .into_iter()
                .find(|p| p.name() == name)
        })
}

/// One binary message of the client, by channel.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    Stdin(&'a [u8]),
    Resize(&'a [u8]),
    /// v5 close-stream of the named channel.
    CloseStream(u8),
    /// Empty, or a channel a client has no business writing to.
    Ignored,
}

/// Reads one client message.
pub fn parse_client_frame(data: &[u8]) -> ClientFrame<'_> {
    match data {
        [STDIN, rest @ ..] => ClientFrame::Stdin(rest),
        [RESIZE, rest @ ..] => ClientFrame::Resize(rest),
        [CLOSE_STREAM, channel] => ClientFrame::CloseStream(*channel),
        _ => ClientFrame::Ignored,
    }
}

/// One server message: the channel byte, then the data.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// A terminal size as the resize channel carries it (client-go's `TerminalSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// The sizes in one resize message. client-go writes each size as a JSON document followed by
/// a newline; several may arrive together. Anything that does not parse ends the list.
pub fn parse_resizes(data: &[u8]) -> Vec<TerminalSize> {
    serde_json::Deserializer::from_slice(data)
        .into_iter::<TerminalSize>()
        .map_while(|size| size.ok())
        .collect()
}

/// How an exec session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ran and exited with this code (128+N for signal N).
    Exited(i32),
    /// The command could not be run.
    Failed(String),
}

/// The `metav1.Status` the error channel carries for `outcome`, as upstream's kubelet writes
/// it: `Success`; `Failure`/`NonZeroExitCode` with the code as an `ExitCode` cause (what
/// kubectl turns into its own exit code); or an internal error.
pub fn status_of(outcome: &Outcome, cmd: &[String]) -> Value {
    match outcome {
        Outcome::Exited(0) => json!({"metadata": {}, "status": "Success"}),
        Outcome::Exited(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                cmd.join(" ")
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Outcome::Failed(error) => {
            let error = format!("error executing command in container: {error}");
            json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Internal error occurred: {error}"),
                "reason": "InternalError",
                "details": {"causes": [{"message": error}]},
                "code": 500,
            })
        }
    }
}

/// The checks upstream's streaming server makes of every Exec and Attach request: a
/// container, no stderr beside a terminal (which merges it into stdout), and some stream.
pub fn check_streams(
    container_id: &str,
    stdin: bool,
    tty: bool,
    stdout: bool,
    stderr: bool,
) -> std::result::Result<(), String> {
    if container_id.is_empty() {
        return Err("missing required container_id".into());
    }
    if tty && stderr {
        return Err("tty and stderr cannot both be true".into());
    }
    if !stdin && !stdout && !stderr {
        return Err("one of stdin, stdout, or stderr must be set".into());
    }
    Ok(())
}

/// Checks an Exec request as upstream's streaming server does, plus a command to run.
pub fn validate(request: &cri::ExecRequest) -> std::result::Result<(), String> {
    check_streams(
        &request.container_id,
        request.stdin,
        request.tty,
        request.stdout,
        request.stderr,
    )?;
    if request.cmd.is_empty() {
        return Err("exec command is empty".into());
    }
    Ok(())
}

/// An Exec request waiting for its client to connect.
#[derive(Debug, Clone)]
struct PendingExec {
    container_id: String,
    state_dir: PathBuf,
    /// The container's init process, whose `/proc/<pid>/root` shows the container's `/dev`.
    pid: i32,
    cmd: Vec<String>,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

/// Requests parked under random one-time tokens until their client connects: each token
/// works once, and for [`TOKEN_TTL`].
#[derive(Debug)]
struct Parked<T>(Mutex<HashMap<String, (Instant, T)>>);

impl<T> Parked<T> {
    fn new() -> Parked<T> {
        Parked(Mutex::new(HashMap::new()))
    }

    /// Parks `request` (dropping the expired ones) and returns its token.
    fn park(&self, request: T) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut parked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        parked.retain(|_, (created, _)| created.elapsed() < TOKEN_TTL);
        parked.insert(token.clone(), (Instant::now(), request));
        token
    }

    /// The request parked under `token`, unless it expired.
    fn take(&self, token: &str) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token)
            .filter(|(created, _)| created.elapsed() < TOKEN_TTL)
            .map(|(_, request)| request)
    }
}

/// The streaming server of one runtime daemon.
#[derive(Debug)]
pub struct StreamingServer {
    rt: Arc<Runtime>,
    address: SocketAddr,
    execs: Parked<PendingExec>,
    forwards: Parked<PendingPortForward>,
    attaches: Parked<PendingAttach>,
}

/// A parked session of the remotecommand channel protocol.
enum RemoteCommand {
    Exec(PendingExec),
    Attach(PendingAttach),
}

/// What a connection's handshake found behind its token.
enum Session {
    RemoteCommand(RemoteCommand, Protocol),
    PortForward(PendingPortForward, portforward::Protocol),
}

static INSTALLED: OnceLock<Arc<StreamingServer>> = OnceLock::new();

/// Binds the streaming server on `address` (`host:port`, port 0 for a free one), serves it in
/// the background and makes it the daemon's ([`installed`]), which the CRI `Exec` rpc uses.
pub async fn start(address: &str, rt: Arc<Runtime>) -> Result<Arc<StreamingServer>> {
    let addr: SocketAddr = address.parse().map_err(|e| {
        RuntimeError::InvalidArgument(format!("streaming address {address:?}: {e}"))
    })?;
    let listener = TcpListener::bind(addr)
        .await
        .ctx("listen for streaming on", address)?;
    let address = listener.local_addr().ctx("read the address of", address)?;
    let server = Arc::new(StreamingServer {
        rt,
        address,
        execs: Parked::new(),
        forwards: Parked::new(),
        attaches: Parked::new(),
    });
    INSTALLED
        .set(server.clone())
        .map_err(|_| RuntimeError::Failed("the streaming server is already running".into()))?;
    tracing::info!(%address, "serving exec streams");
    tokio::spawn(server.clone().accept_loop(listener));
    Ok(server)
}

/// The daemon's streaming server, once [`start`] ran.
pub fn installed() -> Option<Arc<StreamingServer>> {
    INSTALLED.get().cloned()
}

impl StreamingServer {
    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The CRI `Exec` rpc: checks the request and the container, and returns the one-time URL
    /// the session is served on.
    pub fn prepare_exec(&self, request: cri::ExecRequest) -> Result<String> {
        validate(&request).map_err(RuntimeError::InvalidArgument)?;
        let (container_id, state_dir, pid) = self
            .rt
            .running_container(&request.container_id, "cannot exec in it")?;
        let token = self.execs.park(PendingExec {
            container_id,
            state_dir,
            pid,
            cmd: request.cmd,
            tty: request.tty,
            stdin: request.stdin,
            stdout: request.stdout,
            stderr: request.stderr,
        });
        Ok(format!("http://{}/exec/{token}", self.address))
    }

    /// The CRI `Attach` rpc: checks the request against the running container's stdio and
    /// returns the one-time URL the session is served on ([`crate::attach`]).
    pub fn prepare_attach(&self, request: cri::AttachRequest) -> Result<String> {
        let (container_id, state_dir, _) = self
            .rt
            .running_container(&request.container_id, "cannot attach to it")?;
        let spec: crate::spec::ContainerSpec = crate::shim::read_json(&state_dir.join("spec.json"))
            .ok_or_else(|| {
                RuntimeError::Failed(format!("cannot read {}/spec.json", state_dir.display()))
            })?;
        crate::attach::validate(&request, spec.stdin, spec.tty)
            .map_err(RuntimeError::InvalidArgument)?;
        let token = self.attaches.park(PendingAttach {
            container_id,
            state_dir,
            stdin: request.stdin,
            stdout: request.stdout,
            stderr: request.stderr,
        });
        Ok(format!("http://{}/attach/{token}", self.address))
    }

    /// The CRI `PortForward` rpc: checks the request and the sandbox, and returns the
    /// one-time URL the session is served on ([`crate::portforward`]).
    pub fn prepare_port_forward(&self, request: cri::PortForwardRequest) -> Result<String> {
        let ports = portforward::validate(&request).map_err(RuntimeError::InvalidArgument)?;
        let (sandbox_id, netns) = self.rt.port_forward_target(&request.pod_sandbox_id)?;
        let token = self.forwards.park(PendingPortForward {
            sandbox_id,
            netns,
            ports,
        });
        Ok(format!("http://{}/portforward/{token}", self.address))
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Streams carry small interactive writes (keystrokes, SPDY control frames):
                    // Nagle's delay would stall each behind the peer's delayed ACK.
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(self.clone().serve_connection(stream));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a streaming connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    // The handshake callback's error type is tungstenite's HTTP response, large by nature.
    #[allow(clippy::result_large_err)]
    async fn serve_connection(self: Arc<Self>, stream: TcpStream) {
        let mut session: Option<Session> = None;
        let handshake = |request: &Request, mut response: Response| {
            let offered: Vec<&str> = request
                .headers()
                .get_all(header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let not_found = |kind: &str, token: &str| {
                error_response(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("{kind} session {token:?} not found or expired"),
                )
            };
            let path = request.uri().path();
            if let Some(token) = path.strip_prefix("/portforward/") {
                let Some(forward) = self.forwards.take(token) else {
                    return Err(not_found("port-forward", token));
                };
                let protocol = match portforward::negotiate(offered.iter().copied()) {
                    Ok(portforward::Protocol::Channels(_)) if forward.ports.is_empty() => {
                        return Err(error_response(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            "query parameter \"port\" is required",
                        ))
                    }
                    Ok(protocol) => protocol,
                    Err(message) => {
                        return Err(error_response(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            &message,
                        ))
                    }
                };
                if let Some(name) = protocol.name() {
                    response.headers_mut().insert(
                        header::SEC_WEBSOCKET_PROTOCOL,
                        HeaderValue::from_static(name),
                    );
                }
                session = Some(Session::PortForward(forward, protocol));
                return Ok(response);
            }
            let command = if let Some(token) = path.strip_prefix("/attach/") {
                self.attaches
                    .take(token)
                    .map(RemoteCommand::Attach)
                    .ok_or_else(|| not_found("attach", token))?
            } else {
                let token = path.strip_prefix("/exec/").unwrap_or("");
                self.execs
                    .take(token)
                    .map(RemoteCommand::Exec)
                    .ok_or_else(|| not_found("exec", token))?
            };
            let Some(protocol) = negotiate(offered.iter().copied()) else {
                return Err(error_response(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                        "requested protocol(s) are not supported: {offered:?}; supports [{} {}]",
                        Protocol::V5.name(),
                        Protocol::V4.name()
                    ),
                ));
            };
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol.name()),
            );
            session = Some(Session::RemoteCommand(command, protocol));
            Ok(response)
        };
        let ws = match tokio_tungstenite::accept_hdr_async(stream, handshake).await {
            Ok(ws) => ws,
            Err(error) => {
                tracing::debug!(%error, "streaming handshake failed");
                return;
            }
        };
        // Each session runs in a span naming its container or sandbox, so that everything
        // it logs says whose it is.
        match session {
            None => {}
            Some(Session::PortForward(forward, protocol)) => {
                let span = tracing::info_span!("portforward", sandbox = %forward.sandbox_id);
                async {
                    tracing::debug!(ports = ?forward.ports, ?protocol, "port-forward session started");
                    match protocol {
                        portforward::Protocol::Channels(_) => {
                            portforward::run_session(ws, forward).await
                        }
                        portforward::Protocol::SpdyTunnel => {
                            portforward::run_spdy_session(ws, forward).await
                        }
                    }
                }
                .instrument(span)
                .await
            }
            Some(Session::RemoteCommand(RemoteCommand::Attach(attach), protocol)) => {
                let span = tracing::info_span!("attach", container = %attach.container_id);
                async {
                    tracing::debug!(stdin = attach.stdin, "attach session started");
                    crate::attach::run_session(ws, protocol, attach).await
                }
                .instrument(span)
                .await
            }
            Some(Session::RemoteCommand(RemoteCommand::Exec(exec), protocol)) => {
                let span = tracing::info_span!(
                    "exec",
                    container = %exec.container_id,
                    protocol = protocol.name()
                );
                async {
                    tracing::debug!(cmd = ?exec.cmd, tty = exec.tty, "exec session started");
                    run_session(ws, protocol, exec, self.rt.cfg.exe.clone()).await
                }
                .instrument(span)
                .await
            }
        }
    }
}

fn error_response(code: StatusCode, reason: &str, message: &str) -> ErrorResponse {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The client's side of a session's WebSocket.
pub(crate) type Incoming = SplitStream<WebSocketStream<TcpStream>>;

/// Splits a session's WebSocket into the client's messages and a queue towards the client,
/// drained by one writer task, so that every part of a session can send without sharing the
/// sink.
pub(crate) fn split_session(
    ws: WebSocketStream<TcpStream>,
) -> (Incoming, mpsc::Sender<Message>, JoinHandle<()>) {
    let (sink, incoming) = ws.split();
    let (out, to_client) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(write_messages(sink, to_client));
    (incoming, out, writer)
}

/// The message that says a session is up, as upstream sends it: an empty message on the
/// lowest channel the client reads.
pub(crate) fn ready_message(stdout: bool, stderr: bool) -> Message {
    let channel = if stdout {
        STDOUT
    } else if stderr {
        STDERR
    } else {
        ERROR
    };
    Message::binary(vec![channel])
}

/// Ends a session with its final `status` on the error channel, then closes it
/// ([`close_session`]).
pub(crate) async fn finish_session(
    out: mpsc::Sender<Message>,
    writer: JoinHandle<()>,
    incoming: &mut Incoming,
    status: &Value,
) {
    let _ = out
        .send(Message::binary(frame(ERROR, status.to_string().as_bytes())))
        .await;
    close_session(out, writer, incoming).await;
}

/// Ends a session from our side: a normal close frame after everything queued, then reads
/// until the client answers it, so that data it still sends (a heartbeat) never turns our
/// close into a reset that could discard what it has not read yet.
pub(crate) async fn close_session(
    out: mpsc::Sender<Message>,
    writer: JoinHandle<()>,
    incoming: &mut Incoming,
) {
    let _ = out
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    drop(out);
    let _ = writer.await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = incoming.next().await {}
    })
    .await;
}

/// What the client sent before the command started (tty sessions wait for the first size).
#[derive(Default)]
struct EarlyInput {
    stdin: Vec<u8>,
    stdin_closed: bool,
    size: Option<TerminalSize>,
    client_gone: bool,
}

async fn run_session(
    ws: WebSocketStream<TcpStream>,
    protocol: Protocol,
    exec: PendingExec,
    exe: PathBuf,
) {
    let (mut incoming, out, writer) = split_session(ws);
    let _ = out.send(ready_message(exec.stdout, exec.stderr)).await;
    let mut early = EarlyInput::default();
    if exec.tty {
        let _ = tokio::time::timeout(
            FIRST_SIZE_WAIT,
            wait_for_size(&mut incoming, protocol, &mut early),
        )
        .await;
    }
    if early.client_gone {
        return;
    }
    let outcome = match spawn(&exe, &exec, early.size) {
        Err(error) => Outcome::Failed(error.to_string()),
        Ok(process) => match drive(process, &mut incoming, protocol, &out, early).await {
            Some(outcome) => outcome,
            // The client left: dropping the process killed it; nobody is left to tell.
            None => return,
        },
    };
    tracing::debug!(?outcome, "exec session ended");
    let status = status_of(&outcome, &exec.cmd);
    finish_session(out, writer, &mut incoming, &status).await;
}

async fn write_messages(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut messages: mpsc::Receiver<Message>,
) {
    while let Some(message) = messages.recv().await {
        if sink.send(message).await.is_err() {
            return;
        }
    }
    let _ = sink.flush().await;
}

async fn wait_for_size(incoming: &mut Incoming, protocol: Protocol, early: &mut EarlyInput) {
    while early.size.is_none() {
        match incoming.next().await {
            Some(Ok(Message::Binary(data))) => match parse_client_frame(&data) {
                ClientFrame::Resize(sizes) => early.size = parse_resizes(sizes).last().copied(),
                ClientFrame::Stdin(data) => early.stdin.extend_from_slice(data),
                ClientFrame::CloseStream(STDIN) if protocol.supports_stream_close() => {
                    early.stdin_closed = true
                }
                _ => {}
            },
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                early.client_gone = true;
                return;
            }
            Some(Ok(_)) => {}
        }
    }
}

/// A pty master, read and written without blocking a thread.
struct Terminal(AsyncFd<OwnedFd>);

impl Terminal {
    fn new(master: OwnedFd) -> io::Result<Terminal> {
        Ok(Terminal(crate::sys::async_fd(master)?))
    }

    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.0.readable().await?;
            match ready.try_io(|fd| Ok(nix::unistd::read(fd.get_ref(), buf)?)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut ready = self.0.writable().await?;
            match ready.try_io(|fd| Ok(nix::unistd::write(fd.get_ref(), data)?)) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    fn resize(&self, size: TerminalSize) -> Result<()> {
        crate::sys::set_window_size(self.0.get_ref().as_fd(), size.height, size.width)
    }
}

/// Where output comes from.
enum Output {
    Pipe(Box<dyn AsyncRead + Send + Unpin>),
    Terminal(Arc<Terminal>),
}

impl Output {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Output::Pipe(pipe) => pipe.read(buf).await,
            // EIO once every slave descriptor is closed: the end of the terminal's output.
            Output::Terminal(terminal) => terminal.read(buf).await,
        }
    }
}

/// Where stdin goes.
enum Input {
    Pipe(tokio::process::ChildStdin),
    Terminal(Arc<Terminal>),
}

/// A started exec.
struct Process {
    child: tokio::process::Child,
    stdin: Option<Input>,
    outputs: Vec<(u8, Output)>,
    terminal: Option<Arc<Terminal>>,
}

fn spawn(exe: &Path, exec: &PendingExec, size: Option<TerminalSize>) -> Result<Process> {
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("nsexec")
        .arg(&exec.state_dir)
        .arg("--")
        .args(&exec.cmd)
        .kill_on_drop(true);
    let failed = |e: io::Error| RuntimeError::Failed(format!("run nsexec: {e}"));
    if exec.tty {
        let ptmx = PathBuf::from(format!("/proc/{}/root/dev/pts/ptmx", exec.pid));
        let pty = crate::sys::open_pty(&ptmx)?;
        if let Some(size) = size {
            crate::sys::set_window_size(pty.master.as_fd(), size.height, size.width)?;
        }
        command
            .stdin(Stdio::from(pty.slave.try_clone().map_err(failed)?))
            .stdout(Stdio::from(pty.slave.try_clone().map_err(failed)?))
            .stderr(Stdio::from(pty.slave));
        let child = command.spawn().map_err(failed)?;
        // The command holds the slave now; our copies must go, or the terminal never ends.
        drop(command);
        let terminal = Arc::new(Terminal::new(pty.master).map_err(failed)?);
        return Ok(Process {
            child,
            stdin: exec.stdin.then(|| Input::Terminal(terminal.clone())),
            outputs: if exec.stdout {
                vec![(STDOUT, Output::Terminal(terminal.clone()))]
            } else {
                Vec::new()
            },
            terminal: Some(terminal),
        });
    }
    let pipe_or_null = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    command
        .stdin(pipe_or_null(exec.stdin))
        .stdout(pipe_or_null(exec.stdout))
        .stderr(pipe_or_null(exec.stderr));
    let mut child = command.spawn().map_err(failed)?;
    let mut outputs: Vec<(u8, Output)> = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        outputs.push((STDOUT, Output::Pipe(Box::new(stdout))));
    }
    if let Some(stderr) = child.stderr.take() {
        outputs.push((STDERR, Output::Pipe(Box::new(stderr))));
    }
    Ok(Process {
        stdin: child.stdin.take().map(Input::Pipe),
        child,
        outputs,
        terminal: None,
    })
}

/// Runs the session until the command exits (its outcome) or the client leaves (`None`).
async fn drive(
    mut process: Process,
    incoming: &mut Incoming,
    protocol: Protocol,
    out: &mpsc::Sender<Message>,
    early: EarlyInput,
) -> Option<Outcome> {
    // Stdin is fed by its own task, so a command that does not read it never stalls the
    // connection (pings, resizes); dropping the sender closes the command's stdin.
    let mut stdin = process.stdin.take().map(|input| {
        let (sender, receiver) = mpsc::channel::<Vec<u8>>(16);
        tokio::spawn(feed_stdin(input, receiver));
        sender
    });
    if let Some(sender) = &stdin {
        if !early.stdin.is_empty() && sender.send(early.stdin).await.is_err() {
            stdin = None;
        }
    }
    if early.stdin_closed {
        stdin = None;
    }
    let pumps: Vec<_> = process
        .outputs
        .drain(..)
        .map(|(channel, output)| tokio::spawn(pump(channel, output, out.clone())))
        .collect();
    let status = loop {
        tokio::select! {
            status = process.child.wait() => break status,
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => match parse_client_frame(&data) {
                    ClientFrame::Stdin(data) => {
                        if let Some(sender) = &stdin {
                            if sender.send(data.to_vec()).await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    ClientFrame::Resize(data) => {
                        if let Some(terminal) = &process.terminal {
                            for size in parse_resizes(data) {
                                if let Err(error) = terminal.resize(size) {
                                    tracing::debug!(%error, "resize failed");
                                }
                            }
                        }
                    }
                    ClientFrame::CloseStream(STDIN) if protocol.supports_stream_close() => {
                        stdin = None;
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    for pump in &pumps {
                        pump.abort();
                    }
                    return None;
                }
                Some(Ok(_)) => {}
            }
        }
    };
    drop(stdin);
    let aborts: Vec<_> = pumps.iter().map(|p| p.abort_handle()).collect();
    if tokio::time::timeout(DRAIN_AFTER_EXIT, futures::future::join_all(pumps))
        .await
        .is_err()
    {
        for abort in aborts {
            abort.abort();
        }
    }
    Some(match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            Outcome::Exited(
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            )
        }
        Err(error) => Outcome::Failed(format!("wait for the command: {error}")),
    })
}

async fn feed_stdin(input: Input, mut data: mpsc::Receiver<Vec<u8>>) {
    match input {
        Input::Pipe(mut pipe) => {
            while let Some(chunk) = data.recv().await {
                if pipe.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            // Dropping the pipe here is the command's end of input.
        }
        // A terminal has no half-close: its input simply stops.
        Input::Terminal(terminal) => {
            while let Some(chunk) = data.recv().await {
                if terminal.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn pump(channel: u8, mut output: Output, out: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match output.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if out
            .send(Message::binary(frame(channel, &buf[..n])))
            .await
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_offered_protocol_we_speak_wins() {
        let cases: &[(&[&str], Option<Protocol>)] = &[
            (&["v5.channel.k8s.io"], Some(Protocol::V5)),
            (
                &["v5.channel.k8s.io, v4.channel.k8s.io"],
                Some(Protocol::V5),
            ),
            (
                &["v4.channel.k8s.io", "v5.channel.k8s.io"],
                Some(Protocol::V4),
            ),
            (&["v3.channel.k8s.io,v4.channel.k8s.io"], Some(Protocol::V4)),
            (&["channel.k8s.io", "base64.channel.k8s.io"], None),
            (&[], None),
        ];
        for (offered, want) in cases {
            assert_eq!(negotiate(offered.iter().copied()), *want, "{offered:?}");
        }
    }

    #[test]
    fn client_frames_are_read_by_channel() {
        let cases: &[(&[u8], ClientFrame)] = &[
            (b"\x00hi\n", ClientFrame::Stdin(b"hi\n")),
            (b"\x00", ClientFrame::Stdin(b"")),
            (
                b"\x04{\"Width\":80,\"Height\":24}",
                ClientFrame::Resize(b"{\"Width\":80,\"Height\":24}"),
            ),
            (&[255, 0], ClientFrame::CloseStream(0)),
            (&[255], ClientFrame::Ignored),
            (&[255, 0, 1], ClientFrame::Ignored),
            (b"\x01out", ClientFrame::Ignored),
            (b"", ClientFrame::Ignored),
        ];
        for (data, want) in cases {
            assert_eq!(parse_client_frame(data), *want, "{data:?}");
        }
        assert_eq!(frame(STDERR, b"oops"), b"\x02oops".to_vec());
        assert_eq!(frame(STDOUT, b""), vec![1]);
    }

    #[test]
    fn resize_messages_hold_one_or_more_sizes() {
        let size = |width, height| TerminalSize { width, height };
        let cases: &[(&[u8], Vec<TerminalSize>)] = &[
            (b"{\"Width\":80,\"Height\":24}\n", vec![size(80, 24)]),
            (
                b"{\"Width\":80,\"Height\":24}\n{\"Width\":100,\"Height\":40}\n",
                vec![size(80, 24), size(100, 40)],
            ),
            (b"{\"Width\":-1,\"Height\":24}", vec![]),
            (b"not json", vec![]),
            (b"", vec![]),
        ];
        for (data, want) in cases {
            assert_eq!(
                parse_resizes(data),
                *want,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn the_error_channel_carries_upstreams_status() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()];
        assert_eq!(
            status_of(&Outcome::Exited(0), &cmd),
            json!({"metadata": {}, "status": "Success"})
        );
        let failed = status_of(&Outcome::Exited(3), &cmd);
        assert_eq!(failed["status"], "Failure");
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(
            failed["details"]["causes"],
            json!([{"reason": "ExitCode", "message": "3"}])
        );
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        let internal = status_of(&Outcome::Failed("no such container".into()), &cmd);
        assert_eq!(internal["reason"], "InternalError");
        assert_eq!(internal["code"], 500);
        assert_eq!(
            internal["message"],
            "Internal error occurred: error executing command in container: no such container"
        );
    }

    #[test]
    fn exec_requests_are_checked_like_upstream() {
        let ok = cri::ExecRequest {
            container_id: "c1".into(),
            cmd: vec!["sh".into()],
            tty: true,
            stdin: true,
            stdout: true,
            stderr: false,
        };
        let cases = [
            (ok.clone(), Ok(())),
            (
                cri::ExecRequest {
                    container_id: String::new(),
                    ..ok.clone()
                },
                Err("missing required container_id"),
            ),
            (
                cri::ExecRequest {
                    stderr: true,
                    ..ok.clone()
                },
                Err("tty and stderr cannot both be true"),
            ),
            (
                cri::ExecRequest {
                    tty: false,
                    stdin: false,
                    stdout: false,
                    ..ok.clone()
                },
                Err("one of stdin, stdout, or stderr must be set"),
            ),
            (
                cri::ExecRequest {
                    cmd: vec![],
                    ..ok.clone()
                },
                Err("exec command is empty"),
            ),
        ];
        for (request, want) in cases {
            assert_eq!(
                validate(&request),
                want.map_err(String::from),
                "{request:?}"
            );
        }
    }
}
