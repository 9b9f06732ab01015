//! The admin HTTP port: `/healthz`, `/readyz` and `/metrics` for tools that
//! do not speak gRPC health (load balancers, Prometheus).

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::Readiness;

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "admin HTTP listening (/healthz, /readyz, /metrics)");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    let unmet = readiness.unmet();
                    if unmet.is_empty() {
                        (StatusCode::OK, "ready\n".to_owned())
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {unmet:?}\n"),
                        )
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(|| async {
                match crate::telemetry::prometheus_text() {
                    Some(text) => (StatusCode::OK, text),
                    None => (
                        StatusCode::NOT_FOUND,
                        "metrics are not enabled\n".to_owned(),
                    ),
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
