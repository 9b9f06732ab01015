//! Where the services run: a Tokio runtime of their own, whose threads are
//! named so that their CPU time can be told from the clients' (see
//! [`crate::cpu`]). Everything a service spawns while starting lands on
//! this runtime, because it is started from a task running there.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};
use tonic::transport::Channel;

use crate::cpu::SERVER_THREAD;

pub struct ServerRuntime {
    runtime: Option<Runtime>,
}

impl ServerRuntime {
    /// Two worker threads: as many as the machine the figures are stated
    /// for has cores, as a service deployed there would get.
    pub fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREAD)
            .enable_all()
            .build()
            .map_err(|e| format!("starting the services' runtime: {e}"))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> Option<&Handle> {
        self.runtime.as_ref().map(Runtime::handle)
    }

    /// Runs `future` (starting or stopping services) on the services'
    /// runtime and waits for it.
    pub async fn run<F>(&self, future: F) -> Result<F::Output, String>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self
            .handle()
            .ok_or_else(|| "the services' runtime is gone".to_owned())?;
        handle
            .spawn(future)
            .await
            .map_err(|e| format!("a task on the services' runtime failed: {e}"))
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks; from within the clients' runtime that
        // is refused, so it is let go in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A client connection to `addr`, made on the clients' runtime (a channel's
/// background work runs where it was made).
pub async fn connect(addr: std::net::SocketAddr) -> Result<Channel, String> {
    Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("{addr}: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

/// The name of a test database on PostgreSQL.
pub fn database_name(database: &inspraak_kit::testing::TestDatabase) -> String {
    database.postgres_name().unwrap_or_default().to_owned()
}

/// Deletes the queue in which the test support captures every event, so
/// that on RabbitMQ the services' events reach only the queues a
/// deployment has (a capture queue bound to `#` would double the broker's
/// work per event).
pub async fn stop_capturing(shared: &inspraak_host::testing::Shared) -> Result<(), String> {
    let url = inspraak_kit::testing::amqp_url();
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .map_err(|e| format!("connecting to RabbitMQ at {url}: {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("a channel on RabbitMQ: {e}"))?;
    channel
        .queue_delete(
            shared.capture_queue().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .map_err(|e| format!("deleting {}: {e}", shared.capture_queue()))?;
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}
