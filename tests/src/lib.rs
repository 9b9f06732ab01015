//! Support for the platform tests: starting real services against the real
//! PostgreSQL and RabbitMQ, and asking them how they are; a proxy that cuts
//! their connections; a RabbitMQ node of a test's own, to kill and restart;
//! contributions ready to take input; a downstream consumer that counts what
//! arrives.

pub mod contributions;
pub mod downstream;
pub mod proxy;
pub mod rabbit_node;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use inspraak_host::{Defaults, Running, ServiceApp, ServiceConfig};
use inspraak_kit::testing::{TestDatabase, amqp_url, unique};
use inspraak_kit::{Clock, Env};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A service running in this process on port 0, with a database of its own
/// and broker names no other test uses.
pub struct TestService {
    pub running: Running,
    pub shutdown: CancellationToken,
    pub exchange: String,
    pub queue_prefix: String,
    pub database: TestDatabase,
}

impl TestService {
    /// Starts `app` on PostgreSQL and `bus_url` (RabbitMQ unless a test
    /// points it elsewhere). `database` may not exist yet.
    pub async fn start<A: ServiceApp>(app: A, database: TestDatabase, bus_url: &str) -> Self {
        let exchange = unique("inspraak.events.test_");
        let queue_prefix = unique("test_");
        let env = Env::from_pairs([
            ("GRPC_ADDR", "127.0.0.1:0"),
            ("ADMIN_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", database.url.as_str()),
            ("BUS_URL", bus_url),
            ("BUS_EXCHANGE", exchange.as_str()),
            ("BUS_QUEUE_PREFIX", queue_prefix.as_str()),
            ("SHUTDOWN_DRAIN_TIMEOUT", "5s"),
        ]);
        let config = ServiceConfig::from_env(&env, A::NAME, A::DEFAULT_PORT, Defaults::default())
            .unwrap_or_else(|e| panic!("test configuration: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let shutdown = CancellationToken::new();
        let running = inspraak_host::start_on(
            app,
            config,
            listener,
            Clock::system(),
            shutdown.clone(),
            None,
        )
        .await
        .expect("service starts");
        Self {
            running,
            shutdown,
            exchange,
            queue_prefix,
            database,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Stops the service and removes what it declared on the broker.
    pub async fn stop(self, dead_letter_queue: &str) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.running.stopped)
            .await
            .expect("stops within the drain timeout");
        stopped.expect("no crash").expect("clean stop");
        inspraak_bus::testing::delete_rabbit_objects(
            &amqp_url(),
            &self.exchange,
            &[format!("{}{dead_letter_queue}", self.queue_prefix)],
        )
        .await;
    }
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

pub async fn health(addr: SocketAddr, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(channel(addr).await);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health check answers")
        .into_inner();
    ServingStatus::try_from(response.status).expect("a known status")
}

/// Polls until `service`'s health is `expected`, failing after `within`.
pub async fn wait_for_health(
    addr: SocketAddr,
    service: &str,
    expected: ServingStatus,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let status = health(addr, service).await;
        if status == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{service} stayed {status:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
