//! Graceful shutdown: SIGTERM (what systemd and `make down` send) and SIGINT (Ctrl-C) both ask
//! every task of a component to finish what it is doing and stop.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Waits until the process receives SIGTERM or SIGINT and returns the signal's name.
///
/// The handlers are installed when the future is first polled; from then on the signals no
/// longer kill the process by default.
pub async fn wait_for_signal() -> std::io::Result<&'static str> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    Ok(name)
}

/// Returns a token that is cancelled on the first SIGTERM or SIGINT. Clone it into every task;
/// each task stops when `token.cancelled()` completes. The handlers are installed before this
/// returns, so a signal that arrives right after is not lost.
pub fn shutdown_on_signals() -> std::io::Result<CancellationToken> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
            _ = cancel.cancelled() => return,
        };
        tracing::info!(signal = name, "shutting down");
        cancel.cancel();
    });
    Ok(token)
}
