//! Brokers the bus can run on: RabbitMQ in production, an embedded one (a
//! SQLite-backed queue store inside the process) for the embedded platform.
//! Both keep the same promises, which the contract tests check on both:
//! a publish returns only once every message is stored durably in every
//! queue its routing key reaches (and fails if it reaches none); a delivery
//! stays with its consumer until acknowledged, and goes back to its queue,
//! marked redelivered, if the consumer's connection is lost first.

mod amqp;
mod embedded;
mod topic;
mod unsettled;

use std::collections::BTreeMap;

use tokio::sync::watch;

pub use amqp::AmqpBroker;
pub use embedded::EmbeddedBroker;
pub use topic::topic_matches;

/// The durable topic exchange all domain events go through.
pub const EVENTS_EXCHANGE: &str = "inspraak.events";

/// String headers that travel with a message (trace context, dead-letter
/// bookkeeping).
pub type Headers = BTreeMap<String, String>;

/// Where a message is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The events exchange, routed by the routing key to every bound queue.
    Events,
    /// Straight into one queue (dead-lettering and replays).
    Queue(String),
}

#[derive(Debug, Clone)]
pub struct Outgoing {
    pub target: Target,
    pub routing_key: String,
    /// The event id; RabbitMQ shows it as `message_id`.
    pub message_id: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueKind {
    /// Replicated, with tight latency tails: the default.
    #[default]
    Quorum,
    Classic,
}

impl std::str::FromStr for QueueKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quorum" => Ok(Self::Quorum),
            "classic" => Ok(Self::Classic),
            other => Err(format!("{other:?} is neither quorum nor classic")),
        }
    }
}

/// A consumer's durable queue and what it listens to.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: String,
    /// Routing-key patterns (`*` one word, `#` any number of words).
    pub bindings: Vec<String>,
    pub kind: QueueKind,
    /// Where the broker itself dead-letters a message that was delivered
    /// `delivery_limit` times without an ack (a handler that crashes the
    /// process never reaches our own dead-lettering).
    pub dead_letter_queue: String,
    pub delivery_limit: u32,
}

/// One message handed to a consumer.
#[derive(Debug)]
pub struct Delivery {
    pub routing_key: String,
    pub message_id: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// True when the broker delivered this message before without an ack.
    pub redelivered: bool,
    acker: Acker,
}

#[derive(Debug)]
enum Acker {
    Amqp(amqp::AmqpAcker),
    Embedded(embedded::EmbeddedAcker),
}

impl Delivery {
    /// Removes the message from its queue. Fails when the connection that
    /// delivered it is gone; the broker then redelivers it.
    pub async fn ack(self) -> Result<(), BrokerError> {
        match self.acker {
            Acker::Amqp(acker) => acker.ack().await,
            Acker::Embedded(acker) => acker.ack().await,
        }
    }

    /// Removes the messages from their queues, with fewer frames than one
    /// ack each where the broker allows it. Fails when a connection that
    /// delivered one is gone (the broker then redelivers what it did not
    /// get an ack for); the others are still acknowledged.
    pub async fn ack_all(deliveries: Vec<Self>) -> Result<(), BrokerError> {
        let mut amqp = Vec::with_capacity(deliveries.len());
        let mut failure = None;
        for delivery in deliveries {
            match delivery.acker {
                Acker::Amqp(acker) => amqp.push(acker),
                Acker::Embedded(acker) => {
                    if let Err(error) = acker.ack().await {
                        failure.get_or_insert(error);
                    }
                }
            }
        }
        if !amqp.is_empty()
            && let Err(error) = amqp::AmqpAcker::ack_all(amqp).await
        {
            failure.get_or_insert(error);
        }
        failure.map_or(Ok(()), Err)
    }

    /// Gives the message back to its queue for another delivery.
    pub async fn requeue(self) -> Result<(), BrokerError> {
        match self.acker {
            Acker::Amqp(acker) => acker.requeue().await,
            Acker::Embedded(acker) => acker.requeue().await,
        }
    }
}

/// A message looked at in a queue without being consumed.
#[derive(Debug, Clone)]
pub struct Peeked {
    pub routing_key: String,
    pub message_id: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    #[error("broker connection failed: {0}")]
    Connection(String),
    #[error("the broker refused the message {message_id}: {reason}")]
    Nacked { message_id: String, reason: String },
    #[error("no queue is bound to routing key {routing_key:?}; the message was returned")]
    Unroutable { routing_key: String },
    #[error("broker protocol error: {0}")]
    Protocol(String),
    /// The queue was never declared: nothing ever consumed into it.
    #[error("queue {0:?} does not exist")]
    NoSuchQueue(String),
}

/// The broker the bus runs on.
#[derive(Clone)]
pub enum Broker {
    Amqp(AmqpBroker),
    Embedded(EmbeddedBroker),
}

impl Broker {
    /// Publishes a batch and returns once the broker confirmed every message.
    /// On error some messages may have been stored: the caller publishes the
    /// batch again and consumers deduplicate.
    pub async fn publish_confirmed(&self, batch: &[Outgoing]) -> Result<(), BrokerError> {
        match self {
            Self::Amqp(b) => b.publish_confirmed(batch).await,
            Self::Embedded(b) => b.publish_confirmed(batch).await,
        }
    }

    /// Declares the queue, its bindings and its dead-letter queue
    /// (idempotent).
    pub async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BrokerError> {
        match self {
            Self::Amqp(b) => b.declare_queue(spec).await,
            Self::Embedded(b) => b.declare_queue(spec).await,
        }
    }

    /// Starts consuming a declared queue with at most `prefetch`
    /// unacknowledged deliveries.
    pub async fn subscribe(&self, queue: &str, prefetch: u16) -> Result<Subscription, BrokerError> {
        match self {
            Self::Amqp(b) => b
                .subscribe(queue, prefetch)
                .await
                .map(|s| Subscription::Amqp(Box::new(s))),
            Self::Embedded(b) => b
                .subscribe(queue, prefetch)
                .await
                .map(Subscription::Embedded),
        }
    }

    /// Up to `max` messages from the head of `queue`, left in place, and the
    /// number of messages the queue holds.
    pub async fn peek(&self, queue: &str, max: usize) -> Result<(Vec<Peeked>, u64), BrokerError> {
        match self {
            Self::Amqp(b) => b.peek(queue, max).await,
            Self::Embedded(b) => b.peek(queue, max).await,
        }
    }

    /// Moves up to `limit` messages accepted by `select` from `from` to the
    /// queue each names in `reroute`'s answer, publishing before removing
    /// (a crash in between duplicates, never loses). Returns the moved ids.
    pub async fn move_messages(
        &self,
        from: &str,
        limit: usize,
        reroute: &(dyn Fn(&Peeked) -> Option<Outgoing> + Send + Sync),
    ) -> Result<Vec<String>, BrokerError> {
        match self {
            Self::Amqp(b) => b.move_messages(from, limit, reroute).await,
            Self::Embedded(b) => b.move_messages(from, limit, reroute).await,
        }
    }

    /// Whether the broker connection is up, as it changes.
    pub fn connected(&self) -> watch::Receiver<bool> {
        match self {
            Self::Amqp(b) => b.connected(),
            Self::Embedded(b) => b.connected(),
        }
    }
}

/// A stream of deliveries from one queue.
pub enum Subscription {
    Amqp(Box<amqp::AmqpSubscription>),
    Embedded(embedded::EmbeddedSubscription),
}

impl Subscription {
    /// The next delivery; `None` or an error when the connection was lost
    /// (subscribe again).
    pub async fn next(&mut self) -> Option<Result<Delivery, BrokerError>> {
        match self {
            Self::Amqp(s) => s.next().await,
            Self::Embedded(s) => s.next().await,
        }
    }
}
