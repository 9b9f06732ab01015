//! Test support: a service started for real on port 0, with a database of
//! its own, a manual clock, an embedded broker whose capture queue records
//! every event the service publishes, and identity's key server stood in for
//! by test keys, so tests can mint whatever tokens they need.

use std::time::{Duration, Instant};

use chrono::Utc;
use inspraak_bus::broker::{
    Broker, EmbeddedBroker, Headers, Outgoing, QueueKind, QueueSpec, Target,
};
use inspraak_kit::testing::{TestDatabase, TestKeys, serve_jwks};
use inspraak_kit::{Clock, Env};
use inspraak_proto::events::v1::Envelope;
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::{Defaults, Running, ServiceApp, ServiceConfig};

/// Where the events a test service publishes can be read.
pub const CAPTURE_QUEUE: &str = "test.capture";

/// What a group of test services share: the broker, the clock, the keys.
#[derive(Clone)]
pub struct Shared {
    pub broker: Broker,
    pub clock: Clock,
    pub keys: std::sync::Arc<TestKeys>,
    jwks_url: String,
    /// Where the events are captured, and the prefix of the services'
    /// queues: unique on a real RabbitMQ, so tests never see each other.
    capture_queue: String,
    queue_prefix: String,
    /// On RabbitMQ: its URL and the test's exchange, for `cleanup`.
    rabbit: Option<(String, String)>,
    _store: std::sync::Arc<TestDatabase>,
}

impl Shared {
    /// A fresh broker (capturing every event), a manual clock at now, and a
    /// key server.
    pub async fn new() -> Self {
        let store = TestDatabase::sqlite();
        let broker = Broker::Embedded(
            EmbeddedBroker::open(&store.url)
                .await
                .expect("embedded broker"),
        );
        Self::around(broker, store, CAPTURE_QUEUE.to_owned(), String::new(), None).await
    }

    /// The same on the real RabbitMQ (`INSPRAAK_TEST_AMQP_URL`), with an
    /// exchange and queues of the test's own; `cleanup` removes them.
    pub async fn rabbitmq() -> Self {
        Self::rabbitmq_via(inspraak_kit::testing::amqp_url()).await
    }

    /// As `rabbitmq`, with the services reaching the broker at `url` (a
    /// proxy in front of it that a test cuts); `cleanup` goes to the broker
    /// directly.
    pub async fn rabbitmq_via(broker_url: String) -> Self {
        let url = inspraak_kit::testing::amqp_url();
        let exchange = inspraak_kit::testing::unique("inspraak.events.test_");
        let prefix = format!("{}.", inspraak_kit::testing::unique("test_"));
        let broker = Broker::Amqp(inspraak_bus::broker::AmqpBroker::new(
            broker_url,
            "inspraak-test",
            exchange.clone(),
        ));
        let capture = format!("{prefix}capture");
        Self::around(
            broker,
            TestDatabase::sqlite(),
            capture,
            prefix,
            Some((url, exchange)),
        )
        .await
    }

    /// Deletes a RabbitMQ test's exchange and the queues named by its
    /// prefix (`services` are the services that ran, with `purposes` the
    /// consumers they declared).
    /// Publishes `envelope` on the test's exchange, as a service's relay
    /// would (the event's type as routing key, its id as message id), and
    /// waits for the broker's confirm.
    pub async fn publish(&self, envelope: &Envelope) {
        self.broker
            .publish_confirmed(&[Outgoing {
                target: Target::Events,
                routing_key: envelope.r#type.clone(),
                message_id: envelope.event_id.clone(),
                headers: Headers::new(),
                body: envelope.encode_to_vec(),
            }])
            .await
            .unwrap_or_else(|e| panic!("the broker takes {}: {e}", envelope.r#type));
    }

    pub async fn cleanup(&self, queues: &[&str]) {
        if let Some((url, exchange)) = &self.rabbit {
            let mut names: Vec<String> = queues
                .iter()
                .map(|q| format!("{}{q}", self.queue_prefix))
                .collect();
            names.push(self.capture_queue.clone());
            inspraak_bus::testing::delete_rabbit_objects(url, exchange, &names).await;
        }
    }

    async fn around(
        broker: Broker,
        store: TestDatabase,
        capture_queue: String,
        queue_prefix: String,
        rabbit: Option<(String, String)>,
    ) -> Self {
        broker
            .declare_queue(&QueueSpec {
                name: capture_queue.clone(),
                bindings: vec!["#".to_owned()],
                kind: QueueKind::Classic,
                dead_letter_queue: String::new(),
                delivery_limit: 0,
            })
            .await
            .expect("capture queue");
        let keys = TestKeys::generate();
        let jwks = serve_jwks(vec![keys.jwk()]).await;
        Self {
            broker,
            clock: Clock::manual(Utc::now()),
            keys: std::sync::Arc::new(keys),
            jwks_url: format!("http://{jwks}"),
            capture_queue,
            queue_prefix,
            rabbit,
            _store: std::sync::Arc::new(store),
        }
    }

    /// The queue that captures every event (on RabbitMQ, prefixed like the
    /// services' queues): a benchmark deletes it, so that events reach only
    /// the queues a deployment has.
    pub fn capture_queue(&self) -> &str {
        &self.capture_queue
    }

    /// The exchange and the queue prefix of a RabbitMQ test, for a consumer
    /// of the test's own on the same events.
    pub fn rabbit_names(&self) -> Option<(&str, &str)> {
        self.rabbit
            .as_ref()
            .map(|(_, exchange)| (exchange.as_str(), self.queue_prefix.as_str()))
    }

    /// Every event published so far, oldest first.
    pub async fn events(&self) -> Vec<Envelope> {
        let (messages, _) = self
            .broker
            .peek(&self.capture_queue, 100_000)
            .await
            .expect("peek events");
        messages
            .iter()
            .map(|m| Envelope::decode(m.body.as_slice()).expect("an envelope"))
            .collect()
    }

    /// The events of `event_type`, waiting up to `within` until at least
    /// `count` were published.
    pub async fn wait_for_events(
        &self,
        event_type: &str,
        count: usize,
        within: Duration,
    ) -> Vec<Envelope> {
        let deadline = Instant::now() + within;
        loop {
            let found: Vec<Envelope> = self
                .events()
                .await
                .into_iter()
                .filter(|e| e.r#type == event_type)
                .collect();
            if found.len() >= count || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One running service.
pub struct TestServer {
    pub running: Running,
    pub channel: Channel,
    shutdown: CancellationToken,
}

impl TestServer {
    /// Starts `app` on `database` (which may be shared with other instances:
    /// replicas), ready to serve.
    pub async fn start<A: ServiceApp>(app: A, database: &TestDatabase, shared: &Shared) -> Self {
        Self::start_with(app, database, shared, &[]).await
    }

    /// As `start`, with `settings` (environment variables such as
    /// `DATABASE_ACQUIRE_TIMEOUT`) over the test defaults.
    pub async fn start_with<A: ServiceApp>(
        app: A,
        database: &TestDatabase,
        shared: &Shared,
        settings: &[(&str, &str)],
    ) -> Self {
        let env = Env::from_pairs(
            [
                ("GRPC_ADDR", "127.0.0.1:0"),
                ("ADMIN_ADDR", "127.0.0.1:0"),
                ("DATABASE_URL", database.url.as_str()),
                ("BUS_URL", "sqlite::memory:"),
                ("IDENTITY_URL", shared.jwks_url.as_str()),
                ("SHUTDOWN_DRAIN_TIMEOUT", "2s"),
                ("BUS_QUEUE_PREFIX", shared.queue_prefix.as_str()),
            ]
            .into_iter()
            .chain(settings.iter().copied()),
        );
        let config = ServiceConfig::from_env(&env, A::NAME, 0, Defaults::default())
            .expect("test configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let shutdown = CancellationToken::new();
        let running = crate::start_on(
            app,
            config,
            listener,
            shared.clock.clone(),
            shutdown.clone(),
            Some(shared.broker.clone()),
        )
        .await
        .expect("service starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !running.readiness.is_ready() {
            assert!(
                Instant::now() < deadline,
                "never ready: {:?}",
                running.readiness.unmet()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let channel = Channel::from_shared(format!("http://{}", running.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Self {
            running,
            channel,
            shutdown,
        }
    }

    /// Stops the service (as SIGTERM would) and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.running.stopped).await;
    }
}

/// `message` with `token` as its bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

/// The databases every service's tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// A fresh database of this kind.
    pub async fn database(self) -> TestDatabase {
        match self {
            Self::Postgres => TestDatabase::postgres().await,
            Self::Sqlite => TestDatabase::sqlite(),
        }
    }
}

/// Runs each named scenario, an `async fn(Backend)`, once on PostgreSQL and
/// once on SQLite, as tests `postgres::<name>` and `sqlite::<name>`.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::testing::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::testing::Backend::Sqlite).await;
                }
            )*
        }
    };
}
