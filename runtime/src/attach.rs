//! Attach: a container's own stdin, stdout and stderr, for clients that come and go (the CRI
//! `Attach` rpc, `tinykube-runtime run -it`).
//!
//! The shim owns the container's stdio (a pty master for `tty` containers, pipes otherwise),
//! so the shim serves attach: it listens on `attach.sock` in the container's state directory
//! and speaks the remotecommand channel messages there (channel byte, then data: 0 stdin,
//! 1 stdout, 2 stderr, 4 resize, 255 close-stream), each preceded by its length as a
//! big-endian `u32`. Every attached client gets the output as it comes (besides the CRI log);
//! the input of all clients goes to the container. An interactive container's output written
//! before anybody attached is kept (the last [`REPLAY_LIMIT`] bytes) and given to the first
//! client, so `run -it` sees a shell's first prompt although it can only attach once the
//! container has started. With
//! `stdin_once`, the container's stdin closes when the first client is done with it.
//!
//! The daemon's side ([`run_session`]) relays one WebSocket session of its streaming server
//! to that socket, passing only the channels the client asked for.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tinykube_cri_proto::v1 as cri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::streaming::{
    check_streams, finish_session, frame, parse_client_frame, parse_resizes, ready_message,
    split_session, ClientFrame, Protocol, STDERR, STDIN, STDOUT,
};

/// The shim's attach socket, in the container's state directory.
pub const SOCKET: &str = "attach.sock";
/// Output kept for the first client to attach.
pub const REPLAY_LIMIT: usize = 64 * 1024;
/// A client that does not take output for this long is dropped, so that it cannot stall the
/// container (whose writes block once the pipe or terminal is full).
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest message accepted on the socket.
const MAX_MESSAGE: usize = 1 << 20;

/// The address of the attach socket of the state directory open as `dir`. Socket paths are
/// limited to 108 bytes and state directories may be deep (a 64-character container id
/// below them), so the socket is named through the directory's descriptor.
pub fn socket_address(dir: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd()))
}

/// One message on the attach socket: its length, then the message.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 4);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// The length a message's header announces, refused past [`MAX_MESSAGE`].
fn message_length(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach message of {len} bytes (at most {MAX_MESSAGE})"),
        ));
    }
    Ok(len)
}

/// Reads one message; `None` at the end of the stream.
pub fn read_message(from: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match from.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut message = vec![0u8; message_length(len)?];
    from.read_exact(&mut message)?;
    Ok(Some(message))
}

async fn read_message_async(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match from.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut message = vec![0u8; message_length(len)?];
    from.read_exact(&mut message).await?;
    Ok(Some(message))
}

/// Output kept until the first client attaches, trimmed from the front past `limit` bytes.
#[derive(Debug, Default)]
pub struct Replay {
    messages: VecDeque<Vec<u8>>,
    bytes: usize,
    limit: usize,
}

impl Replay {
    pub fn new(limit: usize) -> Replay {
        Replay {
            limit,
            ..Replay::default()
        }
    }

    pub fn push(&mut self, message: Vec<u8>) {
        self.bytes += message.len();
        self.messages.push_back(message);
        while self.bytes > self.limit {
            match self.messages.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    pub fn messages(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.messages.iter()
    }
}

struct Clients {
    next: u64,
    attached: Vec<(u64, UnixStream)>,
    /// Until the first client attaches.
    replay: Option<Replay>,
    /// Whether a client already had stdin (for `stdin_once`).
    stdin_taken: bool,
}

/// The shim's attach server for one container.
pub struct Hub {
    clients: Mutex<Clients>,
    /// Where clients' stdin goes: the stdin pipe or the pty master; `None` once closed.
    input: Mutex<Option<File>>,
    /// The pty master, for resizes.
    terminal: Option<File>,
    stdin_once: bool,
}

impl Hub {
    /// `input`: the container's stdin (when it has one); `terminal`: its pty master. Only
    /// interactive containers (stdin or tty) keep output for their first client: the others'
    /// output is in their log for whoever comes late.
    pub fn new(input: Option<File>, terminal: Option<File>, stdin_once: bool) -> Arc<Hub> {
        let interactive = input.is_some() || terminal.is_some();
        Arc::new(Hub {
            clients: Mutex::new(Clients {
                next: 0,
                attached: Vec::new(),
                replay: interactive.then(|| Replay::new(REPLAY_LIMIT)),
                stdin_taken: false,
            }),
            input: Mutex::new(input),
            terminal,
            stdin_once,
        })
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Output of the container on `channel`, for every attached client.
    pub fn publish(&self, channel: u8, data: &[u8]) {
        let message = encode(&frame(channel, data));
        let mut clients = self.clients();
        if let Some(replay) = clients.replay.as_mut() {
            replay.push(message.clone());
        }
        clients
            .attached
            .retain_mut(|(_, stream)| stream.write_all(&message).is_ok());
    }

    /// Serves `listener` on a thread of its own for the rest of the shim's life.
    pub fn serve(self: &Arc<Self>, listener: UnixListener) {
        let hub = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let hub = hub.clone();
                std::thread::spawn(move || hub.client(stream));
            }
        });
    }

    fn client(&self, stream: UnixStream) {
        let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        let Ok(mut reader) = stream.try_clone() else {
            return;
        };
        let id = {
            let mut clients = self.clients();
            let mut writer = stream;
            if let Some(replay) = clients.replay.take() {
                for message in replay.messages() {
                    if writer.write_all(message).is_err() {
                        return;
                    }
                }
            }
            clients.next += 1;
            let id = clients.next;
            clients.attached.push((id, writer));
            id
        };
        let mut used_stdin = false;
        while let Ok(Some(message)) = read_message(&mut reader) {
            match parse_client_frame(&message) {
                ClientFrame::Stdin(data) => {
                    used_stdin = true;
                    self.write_input(data);
                }
                ClientFrame::Resize(data) => {
                    if let Some(terminal) = &self.terminal {
                        for size in parse_resizes(data) {
                            let _ = crate::sys::set_window_size(
                                terminal.as_fd(),
                                size.height,
                                size.width,
                            );
                        }
                    }
                }
                ClientFrame::CloseStream(STDIN) => {
                    self.client_done_with_stdin();
                    used_stdin = false;
                }
                _ => {}
            }
        }
        self.clients().attached.retain(|(other, _)| *other != id);
        if used_stdin {
            self.client_done_with_stdin();
        }
    }

    fn write_input(&self, data: &[u8]) {
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = input.as_mut() {
            if file.write_all(data).is_err() {
                *input = None;
            }
        }
    }

    fn client_done_with_stdin(&self) {
        let first = {
            let mut clients = self.clients();
            !std::mem::replace(&mut clients.stdin_taken, true)
        };
        if self.stdin_once && first {
            // Dropping the pipe's write end is the container's end of input.
            *self.input.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// The container is gone: every client sees the end of its stream.
    pub fn close(&self) {
        for (_, stream) in self.clients().attached.drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// An Attach request waiting for its client to connect.
#[derive(Debug, Clone)]
pub struct PendingAttach {
    pub container_id: String,
    /// The container's state directory, holding the shim's socket.
    pub state_dir: PathBuf,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Checks an Attach request as upstream's streaming server does, against the container's
/// stdio: stdin only for a container created with it, and the tty setting must be the
/// container's.
pub fn validate(
    request: &cri::AttachRequest,
    container_stdin: bool,
    container_tty: bool,
) -> std::result::Result<(), String> {
    check_streams(
        &request.container_id,
        request.stdin,
        request.tty,
        request.stdout,
        request.stderr,
    )?;
    if request.stdin && !container_stdin {
        return Err(format!(
            "container {} was created without stdin: it cannot be attached with stdin",
            request.container_id
        ));
    }
    if request.tty != container_tty {
        return Err(format!(
            "tty={} does not match container {}, created with tty={container_tty}",
            request.tty, request.container_id
        ));
    }
    Ok(())
}

/// Relays one attach session between the client's WebSocket and the container's shim until
/// the container's stdio ends (the container exited) or the client leaves.
pub async fn run_session(
    ws: WebSocketStream<tokio::net::TcpStream>,
    protocol: Protocol,
    attach: PendingAttach,
) {
    let (mut incoming, out, writer) = split_session(ws);
    let connected = match std::fs::File::open(&attach.state_dir) {
        Ok(dir) => tokio::net::UnixStream::connect(socket_address(&dir)).await,
        Err(error) => Err(error),
    };
    let shim = match connected {
        Ok(s) => s,
        Err(error) => {
            let status = serde_json::json!({
                "metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
                "message": format!("error attaching to container {}: {error}", attach.container_id),
            });
            finish_session(out, writer, &mut incoming, &status).await;
            return;
        }
    };
    let _ = out.send(ready_message(attach.stdout, attach.stderr)).await;
    let (mut from_shim, mut to_shim) = shim.into_split();
    let relay_out = {
        let out = out.clone();
        let wanted = move |channel: u8| {
            (channel == STDOUT && attach.stdout) || (channel == STDERR && attach.stderr)
        };
        async move {
            while let Ok(Some(message)) = read_message_async(&mut from_shim).await {
                if message.first().copied().is_some_and(wanted)
                    && out.send(Message::binary(message)).await.is_err()
                {
                    return;
                }
            }
        }
    };
    let relay_in = async {
        while let Some(Ok(message)) = incoming.next().await {
            let Message::Binary(data) = message else {
                if matches!(message, Message::Close(_)) {
                    return;
                }
                continue;
            };
            let forward = match parse_client_frame(&data) {
                ClientFrame::Stdin(_) => attach.stdin,
                ClientFrame::Resize(_) => true,
                ClientFrame::CloseStream(STDIN) => attach.stdin && protocol.supports_stream_close(),
                _ => false,
            };
            if forward && to_shim.write_all(&encode(&data)).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        // The shim closed the stream: the container ended.
        () = relay_out => {}
        // The client left: dropping our connection detaches it from the shim.
        () = relay_in => return,
    }
    let status = serde_json::json!({"metadata": {}, "status": "Success"});
    finish_session(out, writer, &mut incoming, &status).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streaming::CLOSE_STREAM;

    #[test]
    fn messages_round_trip_with_their_length() {
        let mut wire = Vec::new();
        for message in [
            frame(STDOUT, b"hello"),
            frame(STDIN, b""),
            vec![CLOSE_STREAM, 0],
        ] {
            wire.extend(encode(&message));
        }
        let mut reader = io::Cursor::new(wire);
        assert_eq!(
            read_message(&mut reader).unwrap().unwrap(),
            frame(STDOUT, b"hello")
        );
        assert_eq!(read_message(&mut reader).unwrap().unwrap(), vec![STDIN]);
        assert_eq!(
            read_message(&mut reader).unwrap().unwrap(),
            vec![CLOSE_STREAM, 0]
        );
        assert_eq!(read_message(&mut reader).unwrap(), None);
        let huge = (MAX_MESSAGE as u32 + 1).to_be_bytes();
        assert!(read_message(&mut io::Cursor::new(huge.to_vec())).is_err());
        // A truncated message is an error, not a silent end.
        let mut cut = encode(b"\x01abc");
        cut.pop();
        assert!(read_message(&mut io::Cursor::new(cut)).is_err());
    }

    #[test]
    fn replay_keeps_the_newest_output() {
        let mut replay = Replay::new(10);
        for m in [b"aaaa".to_vec(), b"bbbb".to_vec(), b"cccc".to_vec()] {
            replay.push(m);
        }
        let kept: Vec<&[u8]> = replay.messages().map(|m| m.as_slice()).collect();
        assert_eq!(kept, [b"bbbb".as_slice(), b"cccc"]);
        let mut replay = Replay::new(3);
        replay.push(b"toolong".to_vec());
        assert_eq!(replay.messages().count(), 0);
    }

    #[test]
    fn attach_requests_are_checked_against_the_container() {
        let request = |stdin, tty, stdout, stderr| cri::AttachRequest {
            container_id: "c1".into(),
            stdin,
            tty,
            stdout,
            stderr,
        };
        let cases: [(cri::AttachRequest, bool, bool, Option<&str>); 7] = [
            (request(true, true, true, false), true, true, None),
            (request(false, false, true, true), false, false, None),
            (request(true, false, true, true), true, false, None),
            (
                request(true, true, true, true),
                true,
                true,
                Some("tty and stderr cannot both be true"),
            ),
            (
                request(false, false, false, false),
                false,
                false,
                Some("one of stdin, stdout, or stderr must be set"),
            ),
            (
                request(true, false, true, true),
                false,
                false,
                Some("container c1 was created without stdin: it cannot be attached with stdin"),
            ),
            (
                request(false, true, true, false),
                false,
                false,
                Some("tty=true does not match container c1, created with tty=false"),
            ),
        ];
        for (i, (req, stdin, tty, want)) in cases.iter().enumerate() {
            assert_eq!(
                validate(req, *stdin, *tty).err().as_deref(),
                *want,
                "case {i}"
            );
        }
        let mut no_id = request(false, false, true, false);
        no_id.container_id.clear();
        assert_eq!(
            validate(&no_id, false, false).unwrap_err(),
            "missing required container_id"
        );
    }
}
