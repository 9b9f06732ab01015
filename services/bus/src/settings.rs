//! The bus's configuration.

use std::time::Duration;

use inspraak_kit::Env;

use crate::broker::QueueKind;
use crate::consumer::ConsumerSettings;
use crate::relay::RelaySettings;

/// Unacknowledged deliveries a consumer holds at once unless `BUS_PREFETCH`
/// says otherwise: enough for its transactions to find batches in hand.
pub const DEFAULT_PREFETCH: u16 = 200;

/// Deliveries applied in one transaction at most (`BUS_HANDLER_BATCH`).
pub const DEFAULT_HANDLER_BATCH: usize = 100;

/// Which broker, as `BUS_URL` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerUrl {
    /// `amqp://user:pass@host:5672/%2f` (the vhost `/` is `%2f`).
    Amqp(String),
    /// `sqlite://data/bus.db?mode=rwc`: the embedded broker's store.
    Embedded(String),
}

impl std::str::FromStr for BrokerUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("amqp://") || s.starts_with("amqps://") {
            Ok(Self::Amqp(s.to_owned()))
        } else if s.starts_with("sqlite:") {
            Ok(Self::Embedded(s.to_owned()))
        } else {
            Err("expected amqp://… for RabbitMQ or sqlite:… for the embedded broker".to_owned())
        }
    }
}

#[derive(Debug, Clone)]
pub struct BusSettings {
    pub url: BrokerUrl,
    /// `BUS_EXCHANGE`
    pub exchange: String,
    /// `BUS_QUEUE_PREFIX`: prepended to every queue name (isolates tests and
    /// several platforms sharing one broker).
    pub queue_prefix: String,
    /// `BUS_QUEUE_TYPE`
    pub queue_kind: QueueKind,
    /// `BUS_DELIVERY_LIMIT`: deliveries without ack before the broker itself
    /// dead-letters a message (a handler that crashes the process).
    pub delivery_limit: u32,
    pub consumer: ConsumerSettings,
    pub relay: RelaySettings,
}

impl BusSettings {
    pub fn from_env(env: &mut Env, default_url: Option<&str>) -> Self {
        let url = match default_url {
            Some(default) => env.or(
                "BUS_URL",
                BrokerUrl::Embedded(default.to_owned()),
                "an amqp:// or sqlite: URL",
            ),
            None => env
                .required("BUS_URL", "an amqp:// or sqlite: URL")
                .unwrap_or(BrokerUrl::Embedded("sqlite::memory:".to_owned())),
        };
        let max_backoff = env.duration_or("BUS_MAX_BACKOFF", Duration::from_secs(30));
        Self {
            url,
            exchange: env.or(
                "BUS_EXCHANGE",
                crate::broker::EVENTS_EXCHANGE.to_owned(),
                "an exchange name",
            ),
            queue_prefix: env.or("BUS_QUEUE_PREFIX", String::new(), "a queue name prefix"),
            queue_kind: env.or("BUS_QUEUE_TYPE", QueueKind::Quorum, "quorum or classic"),
            delivery_limit: env.bounded_or("BUS_DELIVERY_LIMIT", 20, 1, 1000),
            consumer: ConsumerSettings {
                prefetch: env.bounded_or("BUS_PREFETCH", DEFAULT_PREFETCH, 1, 10_000),
                concurrency: env.bounded_or("BUS_HANDLER_CONCURRENCY", 4, 1, 1000),
                batch: env.bounded_or("BUS_HANDLER_BATCH", DEFAULT_HANDLER_BATCH, 1, 10_000),
                max_attempts: env.bounded_or("BUS_MAX_ATTEMPTS", 5, 1, 100),
                retry_backoff: env.duration_or("BUS_RETRY_BACKOFF", Duration::from_millis(200)),
                max_backoff,
            },
            relay: RelaySettings {
                batch_size: env.bounded_or("OUTBOX_BATCH_SIZE", 500, 1, 10_000),
                poll_interval: env.duration_or("OUTBOX_POLL_INTERVAL", Duration::from_secs(1)),
                max_backoff,
                unrouted_grace: env.duration_or("BUS_UNROUTED_GRACE", Duration::from_secs(5 * 60)),
            },
        }
    }

    /// Defaults for tests, on the given broker.
    pub fn for_tests(url: BrokerUrl, queue_prefix: &str, exchange: &str) -> Self {
        Self {
            url,
            exchange: exchange.to_owned(),
            queue_prefix: queue_prefix.to_owned(),
            queue_kind: QueueKind::Quorum,
            delivery_limit: 20,
            consumer: ConsumerSettings {
                prefetch: DEFAULT_PREFETCH,
                concurrency: 4,
                batch: DEFAULT_HANDLER_BATCH,
                max_attempts: 3,
                retry_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_secs(1),
            },
            relay: RelaySettings {
                batch_size: 500,
                poll_interval: Duration::from_millis(200),
                max_backoff: Duration::from_secs(1),
                unrouted_grace: Duration::from_secs(5 * 60),
            },
        }
    }
}
