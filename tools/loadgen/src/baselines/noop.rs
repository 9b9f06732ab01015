//! The limit for any gRPC call on this machine: a bare tonic server (no
//! layers, no authentication, no telemetry) answering the standard health
//! check, whose handler only looks a name up in a map. Its connections
//! have Nagle's algorithm off, as the services' have.

use std::sync::Arc;

use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::drive::{Operation, operation, status};
use crate::servers::{ServerRuntime, connect};

/// A running bare server; stops when dropped.
pub struct NoopServer {
    pub channel: Channel,
    _stop: oneshot::Sender<()>,
}

impl NoopServer {
    pub async fn start(runtime: &ServerRuntime) -> Result<Self, String> {
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = runtime
            .run(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("binding the no-op server: {e}"))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| format!("the no-op server's address: {e}"))?;
                let (_reporter, health) = tonic_health::server::health_reporter();
                // Nagle's algorithm off on each connection, as the services'
                // servers have it: otherwise a share of the answers waits for
                // the client's delayed ACK (~40 ms), which is no limit of gRPC.
                let incoming = inspraak_kit::grpc::no_delay(listener);
                tokio::spawn(
                    tonic::transport::Server::builder()
                        .add_service(health)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopped.await;
                        }),
                );
                Ok::<_, String>(addr)
            })
            .await??;
        Ok(Self {
            channel: connect(addr).await?,
            _stop: stop,
        })
    }

    /// One health check of the liveness name (`""`), which is always
    /// SERVING.
    pub fn operation(&self) -> Arc<impl Operation> {
        let channel = self.channel.clone();
        operation(move |_, _| {
            let mut client = HealthClient::new(channel.clone());
            async move {
                client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| status(&e))
            }
        })
    }
}
