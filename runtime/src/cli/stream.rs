//! The client side of a streaming session (`exec -it`, `run -it`): connects to the URL the
//! daemon's `Exec` or `Attach` rpc answered, speaking `v5.channel.k8s.io` as kubectl does,
//! copies local stdin to channel 0 (closing it with a v5 close-stream at end of input),
//! channels 1 and 2 to local stdout and stderr, and returns the `Status` of channel 3. With a
//! tty the local terminal is in raw mode for the session (restored on the way out) and its
//! size follows SIGWINCH.
//!
//! The streaming server listens on the daemon's loopback, so the CLI must run in the daemon's
//! network namespace (the node's), as it does on a node.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use anyhow::{anyhow, bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::streaming::{
    frame, Protocol, TerminalSize, CLOSE_STREAM, ERROR, RESIZE, STDERR, STDIN, STDOUT,
};

/// What Docker says when asked for a terminal whose input is not one.
pub const NOT_A_TTY: &str = "the input device is not a TTY";

/// The exit code a finished session's `Status` stands for: 0 for `Success`, the command's code
/// for `NonZeroExitCode`; other failures are errors with the status's message.
pub fn exit_code_of(status: &Value) -> Result<i32, String> {
    if status["status"] == "Success" {
        return Ok(0);
    }
    if status["reason"] == "NonZeroExitCode" {
        let code = status["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["reason"] == "ExitCode")
            .and_then(|c| c["message"].as_str()?.parse::<i32>().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    Err(status["message"]
        .as_str()
        .unwrap_or("the session failed without a message")
        .to_string())
}

/// The WebSocket URL of a streaming URL, which the daemon gives as `http://` (as upstream's
/// streaming servers do, for the kubelet's proxy).
pub fn websocket_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        url.to_string()
    }
}

/// A resize message for a terminal of `rows` x `cols`.
pub fn resize_message(rows: u16, cols: u16) -> Vec<u8> {
    let size = TerminalSize {
        width: cols,
        height: rows,
    };
    frame(
        RESIZE,
        serde_json::to_string(&size).unwrap_or_default().as_bytes(),
    )
}

/// The local terminal in raw mode until dropped.
struct RawTerminal {
    saved: nix::sys::termios::Termios,
}

impl RawTerminal {
    fn enter() -> anyhow::Result<RawTerminal> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).context("read the terminal's settings")?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).context("set the terminal to raw mode")?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin().as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}

fn local_size() -> Option<(u16, u16)> {
    crate::sys::window_size(std::io::stdout().as_fd())
        .or_else(|| crate::sys::window_size(std::io::stdin().as_fd()))
}

/// Whether a session asking for a terminal (`tty`) with input (`stdin`) can have one here.
pub fn check_terminal(stdin: bool, tty: bool) -> anyhow::Result<()> {
    if stdin && tty && !std::io::stdin().is_terminal() {
        bail!(NOT_A_TTY);
    }
    Ok(())
}

/// Runs the session at `url` to its end; returns the status the server sent on the error
/// channel, if any.
pub async fn stream(url: &str, stdin: bool, tty: bool) -> anyhow::Result<Option<Value>> {
    let mut request = websocket_url(url)
        .into_client_request()
        .with_context(|| format!("bad streaming URL {url:?}"))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(Protocol::V5.name()),
    );
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| {
            anyhow!(
                "cannot reach the runtime's streaming server at {url}: {e} (run this command in the runtime daemon's network namespace)"
            )
        })?;
    let (mut sink, mut incoming) = ws.split();
    let (to_server, mut outgoing) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let raw = if tty && std::io::stdin().is_terminal() {
        Some(RawTerminal::enter()?)
    } else {
        None
    };
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(Message::binary(message)).await.is_err() {
                return;
            }
        }
    });
    if tty {
        if let Some((rows, cols)) = local_size() {
            let _ = to_server.send(resize_message(rows, cols)).await;
        }
        let sizes = to_server.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut changes) = signal(SignalKind::window_change()) else {
                return;
            };
            while changes.recv().await.is_some() {
                if let Some((rows, cols)) = local_size() {
                    if sizes.send(resize_message(rows, cols)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    if stdin {
        // A plain thread, not tokio's blocking pool: a terminal read that never returns must
        // not keep the process from exiting once the session ended.
        let input = to_server.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut local = std::io::stdin().lock();
            loop {
                match local.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if input.blocking_send(frame(STDIN, &buf[..n])).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = input.blocking_send(vec![CLOSE_STREAM, STDIN]);
        });
    }
    drop(to_server);
    let mut status = None;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some(message) = incoming.next().await {
        let data = match message {
            Ok(Message::Binary(data)) => data,
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                drop(raw);
                return Err(anyhow!("the streaming session failed: {e}"));
            }
        };
        match data.split_first() {
            Some((&STDOUT, rest)) => {
                stdout.write_all(rest)?;
                stdout.flush()?;
            }
            Some((&STDERR, rest)) => {
                stderr.write_all(rest)?;
                stderr.flush()?;
            }
            Some((&ERROR, rest)) if !rest.is_empty() => {
                status =
                    Some(serde_json::from_slice(rest).context("the session's status is not JSON")?);
            }
            _ => {}
        }
    }
    writer.abort();
    drop(raw);
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_become_exit_codes() {
        let cases = [
            (json!({"metadata": {}, "status": "Success"}), Ok(0)),
            (
                json!({"status": "Failure", "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": "42"}]}}),
                Ok(42),
            ),
            (
                json!({"status": "Failure", "reason": "InternalError", "message": "no such file"}),
                Err("no such file".to_string()),
            ),
            (
                json!({"status": "Failure", "reason": "NonZeroExitCode", "message": "odd"}),
                Err("odd".to_string()),
            ),
        ];
        for (status, want) in cases {
            assert_eq!(exit_code_of(&status), want, "{status}");
        }
    }

    #[test]
    fn streaming_urls_become_websocket_urls() {
        let cases = [
            ("http://127.0.0.1:3/exec/t", "ws://127.0.0.1:3/exec/t"),
            ("https://node:10250/attach/t", "wss://node:10250/attach/t"),
            ("ws://already/x", "ws://already/x"),
        ];
        for (url, want) in cases {
            assert_eq!(websocket_url(url), want);
        }
    }

    #[test]
    fn resizes_carry_width_and_height() {
        let message = resize_message(33, 111);
        assert_eq!(message[0], RESIZE);
        assert_eq!(
            crate::streaming::parse_resizes(&message[1..]),
            [TerminalSize {
                width: 111,
                height: 33
            }]
        );
    }
}
