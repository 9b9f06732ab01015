//! The event bus: services publish domain events through a transactional
//! outbox and consume each other's events idempotently, on RabbitMQ in
//! production or on the embedded broker in the embedded platform — with the
//! same guarantees on both.
//!
//! - [`Outbox::write`] in the transaction of the change; the [`Relay`]
//!   publishes with confirms and deletes rows only once confirmed.
//! - A [`Consumer`] applies each event once (the `inbox` table), retries with
//!   back-off, and dead-letters what keeps failing to `<service>.dlq`, where
//!   the `DeadLetters` RPCs list and replay it.

pub mod broker;
pub mod consumer;
pub mod dead_letter;
pub mod event;
pub mod migration;
pub mod outbox;
pub mod relay;
pub mod settings;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use inspraak_kit::grpc::{Condition, Readiness};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use broker::{Broker, BrokerError, QueueKind, QueueSpec};
pub use consumer::{Consumer, EventHandler, HandlerError, Joined};
pub use event::{EventType, NewEvent, decode_payload};
pub use outbox::Outbox;
pub use relay::Relay;
pub use settings::{BrokerUrl, BusSettings};

use broker::{AmqpBroker, EmbeddedBroker};

/// One service's access to the bus.
#[derive(Clone)]
pub struct Bus {
    service: String,
    broker: Broker,
    settings: BusSettings,
    wake: Arc<Notify>,
}

impl Bus {
    /// Connects `service` to the broker `settings.url` names. RabbitMQ
    /// connects lazily (the service starts even while the broker is down);
    /// the embedded store opens at once.
    pub async fn open(service: &str, settings: BusSettings) -> Result<Self, BrokerError> {
        let broker = match &settings.url {
            BrokerUrl::Amqp(uri) => Broker::Amqp(AmqpBroker::new(
                uri.clone(),
                format!("{}{service}", settings.queue_prefix),
                settings.exchange.clone(),
            )),
            BrokerUrl::Embedded(url) => Broker::Embedded(EmbeddedBroker::open(url).await?),
        };
        Ok(Self::with_broker(service, broker, settings))
    }

    /// Shares an already opened broker (the embedded platform runs every
    /// service on one embedded broker).
    pub fn with_broker(service: &str, broker: Broker, settings: BusSettings) -> Self {
        Self {
            service: service.to_owned(),
            broker,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn settings(&self) -> &BusSettings {
        &self.settings
    }

    pub fn outbox(&self) -> Outbox {
        Outbox::new(self.service.clone(), self.wake.clone())
    }

    pub fn relay(&self, db: DatabaseConnection) -> Relay {
        Relay::new(
            &self.service,
            db,
            self.broker.clone(),
            self.wake.clone(),
            self.settings.relay.clone(),
        )
    }

    /// `<prefix><service>.dlq`
    pub fn dead_letter_queue(&self) -> String {
        format!("{}{}.dlq", self.settings.queue_prefix, self.service)
    }

    /// `<prefix><service>.<purpose>`
    pub fn queue_name(&self, purpose: &str) -> String {
        format!("{}{}.{purpose}", self.settings.queue_prefix, self.service)
    }

    /// A consumer of the events matching `bindings`, in the service's queue
    /// `<service>.<purpose>`.
    pub fn consumer<H: EventHandler>(
        &self,
        db: DatabaseConnection,
        purpose: &str,
        bindings: &[&str],
        handler: H,
    ) -> Consumer<H> {
        let mut settings = self.settings.consumer.clone();
        if db.get_database_backend() == DbBackend::Sqlite {
            // One writer: concurrent handlers would only queue for the lock.
            settings.concurrency = 1;
        }
        let queue = QueueSpec {
            name: self.queue_name(purpose),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            kind: self.settings.queue_kind,
            dead_letter_queue: self.dead_letter_queue(),
            delivery_limit: self.settings.delivery_limit,
        };
        Consumer::new(db, self.broker.clone(), queue, handler, settings)
    }

    /// The `inspraak.bus.v1.DeadLetters` gRPC service for this service's
    /// dead-letter queue.
    pub fn dead_letters_service(&self) -> dead_letter::DeadLettersService {
        dead_letter::DeadLettersService::new(self.broker.clone(), self.dead_letter_queue())
    }

    /// Keeps readiness's broker condition true to the connection, and
    /// reconnects in the background while the broker is away, so readiness
    /// comes back even when no traffic flows.
    pub fn watch_connection(
        &self,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let broker = self.broker.clone();
        let max_backoff = self.settings.relay.max_backoff;
        tokio::spawn(async move {
            let mut connected = broker.connected();
            let mut backoff = Duration::from_millis(200);
            loop {
                let up = *connected.borrow_and_update();
                readiness.set(Condition::Broker, up).await;
                if !up && let Broker::Amqp(amqp) = &broker {
                    match amqp.ensure_connected().await {
                        Ok(()) => {
                            backoff = Duration::from_millis(200);
                            continue;
                        }
                        Err(error) => {
                            tracing::warn!(%error, retry_in = ?backoff, "broker unreachable");
                            tokio::select! {
                                () = tokio::time::sleep(backoff) => {}
                                () = shutdown.cancelled() => return,
                            }
                            backoff = (backoff * 2).min(max_backoff);
                            continue;
                        }
                    }
                }
                tokio::select! {
                    changed = connected.changed() => if changed.is_err() { return },
                    () = shutdown.cancelled() => return,
                }
            }
        })
    }
}
