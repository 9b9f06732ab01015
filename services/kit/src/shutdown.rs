//! Turning SIGTERM and SIGINT into a cancellation every part of a service
//! watches.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or SIGINT. The handlers are installed
/// before this returns, so a signal that arrives right after is not missed.
pub fn cancel_on_signal(token: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            () = token.cancelled() => return,
        }
        token.cancel();
    });
    Ok(())
}
