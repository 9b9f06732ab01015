//! Consuming events: at least once from the broker, exactly once in effect.
//!
//! Each delivery is handled in one database transaction that also records the
//! event id in the `inbox`; the broker's ack follows the commit. A redelivered
//! event finds its id in the inbox and is acknowledged without effect. A
//! handler that fails is retried with back-off; after the last attempt the
//! message is published (confirmed) to the service's dead-letter queue and
//! only then acknowledged, so nothing is lost between the two.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use inspraak_proto::events::v1::Envelope;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use prost::Message;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::{Broker, BrokerError, Delivery, Outgoing, QueueSpec, Target};
use crate::dead_letter::{self, DeadLetterInfo};
use crate::store::inbox;

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again (a conflict, a database hiccup).
    #[error("{0}")]
    Retry(String),
    /// Will never succeed (an event this handler cannot make sense of): goes
    /// to the dead-letter queue without further attempts.
    #[error("{0}")]
    Reject(String),
}

impl From<DbErr> for HandlerError {
    fn from(error: DbErr) -> Self {
        Self::Retry(format!("database: {error}"))
    }
}

/// What a service does with the events of one queue.
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event` within `txn`. The consumer commits; the handler must
    /// not. Returning an error rolls the whole transaction back.
    fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Unacknowledged deliveries the broker may hand over at once.
    pub prefetch: u16,
    /// Deliveries handled concurrently (1 on SQLite, which has one writer).
    pub concurrency: usize,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub retry_backoff: Duration,
    pub max_backoff: Duration,
}

enum Outcome {
    Applied,
    Duplicate,
}

pub struct Consumer<H> {
    db: DatabaseConnection,
    broker: Broker,
    queue: QueueSpec,
    handler: Arc<H>,
    settings: ConsumerSettings,
    metrics: ConsumerMetrics,
}

#[derive(Clone)]
struct ConsumerMetrics {
    consumed: Counter<u64>,
    duplicates: Counter<u64>,
    retried: Counter<u64>,
    dead_lettered: Counter<u64>,
    duration: Histogram<f64>,
    queue: KeyValue,
}

impl ConsumerMetrics {
    fn new(queue: &str) -> Self {
        let meter = opentelemetry::global::meter("inspraak.bus");
        Self {
            consumed: meter
                .u64_counter("inspraak.bus.consumed")
                .with_description("Events applied by a handler")
                .build(),
            duplicates: meter
                .u64_counter("inspraak.bus.duplicates")
                .with_description("Redelivered events acknowledged without effect")
                .build(),
            retried: meter
                .u64_counter("inspraak.bus.retried")
                .with_description("Handler attempts that failed and were retried")
                .build(),
            dead_lettered: meter
                .u64_counter("inspraak.bus.dead_lettered")
                .with_description("Events sent to the dead-letter queue")
                .build(),
            duration: meter
                .f64_histogram("inspraak.bus.handler.duration")
                .with_unit("s")
                .with_boundaries(inspraak_kit::telemetry::DURATION_BUCKETS.to_vec())
                .build(),
            queue: KeyValue::new("messaging.destination.name", queue.to_owned()),
        }
    }
}

impl<H: EventHandler> Consumer<H> {
    pub(crate) fn new(
        db: DatabaseConnection,
        broker: Broker,
        queue: QueueSpec,
        handler: H,
        settings: ConsumerSettings,
    ) -> Self {
        let metrics = ConsumerMetrics::new(&queue.name);
        Self {
            db,
            broker,
            queue,
            handler: Arc::new(handler),
            settings,
            metrics,
        }
    }

    pub fn queue(&self) -> &QueueSpec {
        &self.queue
    }

    /// Declares the queue (idempotent). `run` does it too, on every
    /// (re)connection; calling it first lets a service make sure its queue
    /// exists before anyone publishes.
    pub async fn declare(&self) -> Result<(), BrokerError> {
        self.broker.declare_queue(&self.queue).await
    }

    /// Consumes until `shutdown`, reconnecting with back-off. On shutdown it
    /// stops taking deliveries and lets the ones in progress finish.
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::spawn(measure_lag(
            self.broker.clone(),
            self.queue.name.clone(),
            shutdown.clone(),
        ));
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            match self.consume_until_disconnected(&shutdown).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(queue = %self.queue.name, %error, retry_in = ?backoff, "consumer lost its broker; resubscribing");
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => break,
            }
            backoff = (backoff * 2).min(self.settings.max_backoff);
        }
        tracing::info!(queue = %self.queue.name, "consumer stopped");
    }

    async fn consume_until_disconnected(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<(), BrokerError> {
        self.broker.declare_queue(&self.queue).await?;
        let subscription = self
            .broker
            .subscribe(&self.queue.name, self.settings.prefetch)
            .await?;
        let deliveries =
            futures_util::stream::unfold(subscription, |mut subscription| async move {
                subscription.next().await.map(|item| (item, subscription))
            });
        let mut lost = None;
        deliveries
            .take_until(shutdown.cancelled())
            .for_each_concurrent(self.settings.concurrency, |item| match item {
                Ok(delivery) => {
                    futures_util::future::Either::Left(self.process(delivery, shutdown))
                }
                Err(error) => {
                    lost = Some(error);
                    futures_util::future::Either::Right(std::future::ready(()))
                }
            })
            .await;
        match lost {
            Some(error) => Err(error),
            None if shutdown.is_cancelled() => Ok(()),
            None => Err(BrokerError::Connection("the subscription ended".to_owned())),
        }
    }

    async fn process(&self, delivery: Delivery, shutdown: &CancellationToken) {
        let envelope = match Envelope::decode(delivery.body.as_slice()) {
            Ok(envelope) if !envelope.event_id.is_empty() => envelope,
            Ok(_) => {
                return self
                    .dead_letter(delivery, "the envelope has no event id", 0)
                    .await;
            }
            Err(error) => {
                return self
                    .dead_letter(
                        delivery,
                        &format!("the body is not an Envelope: {error}"),
                        0,
                    )
                    .await;
            }
        };
        let span = tracing::info_span!(
            "bus.consume",
            otel.name = %format!("{} process", envelope.r#type),
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.destination.name = %self.queue.name,
            messaging.message.id = %envelope.event_id,
            messaging.operation.type = "process",
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        // The relay's publish span, when the message carries it; else the
        // context the outbox stored with the event.
        let traceparent = delivery
            .headers
            .get("traceparent")
            .filter(|t| !t.is_empty())
            .cloned()
            .unwrap_or_else(|| envelope.traceparent.clone());
        inspraak_kit::telemetry::continue_trace(&span, &traceparent);
        inspraak_kit::telemetry::record_trace_ids(&span);
        self.process_envelope(delivery, envelope, shutdown)
            .instrument(span)
            .await;
    }

    async fn process_envelope(
        &self,
        delivery: Delivery,
        envelope: Envelope,
        shutdown: &CancellationToken,
    ) {
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let outcome = self.apply(&envelope).await;
            self.metrics.duration.record(
                started.elapsed().as_secs_f64(),
                std::slice::from_ref(&self.metrics.queue),
            );
            let error = match outcome {
                Ok(Outcome::Applied) => {
                    self.metrics
                        .consumed
                        .add(1, std::slice::from_ref(&self.metrics.queue));
                    return ack(delivery).await;
                }
                Ok(Outcome::Duplicate) => {
                    tracing::debug!(event_id = %envelope.event_id, "already handled; acknowledging without effect");
                    self.metrics
                        .duplicates
                        .add(1, std::slice::from_ref(&self.metrics.queue));
                    return ack(delivery).await;
                }
                Err(HandlerError::Reject(reason)) => {
                    return self.dead_letter(delivery, &reason, attempt).await;
                }
                Err(HandlerError::Retry(reason)) => reason,
            };
            if attempt >= self.settings.max_attempts {
                return self.dead_letter(delivery, &error, attempt).await;
            }
            self.metrics
                .retried
                .add(1, std::slice::from_ref(&self.metrics.queue));
            let delay = backoff(
                self.settings.retry_backoff,
                self.settings.max_backoff,
                attempt,
            );
            tracing::warn!(event_id = %envelope.event_id, attempt, %error, retry_in = ?delay, "handler failed");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => {
                    // Not ours to finish: hand it back for the next process.
                    if let Err(error) = delivery.requeue().await {
                        tracing::debug!(%error, "requeue at shutdown failed; the broker will redeliver");
                    }
                    return;
                }
            }
            attempt += 1;
        }
    }

    /// One attempt: inbox check, handler, commit — all or nothing.
    async fn apply(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
        let txn = inspraak_kit::db::begin_write(&self.db).await?;
        let recorded = inbox::Entity::insert(inbox::ActiveModel {
            consumer: Set(self.queue.name.clone()),
            event_id: Set(envelope.event_id.clone()),
            handled_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([inbox::Column::Consumer, inbox::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if recorded == 0 {
            txn.rollback().await?;
            return Ok(Outcome::Duplicate);
        }
        self.handler.handle(&txn, envelope).await?;
        txn.commit().await?;
        Ok(Outcome::Applied)
    }

    async fn dead_letter(&self, delivery: Delivery, error: &str, attempts: u32) {
        tracing::error!(queue = %self.queue.name, message_id = %delivery.message_id, attempts, %error, "dead-lettering event");
        let info = DeadLetterInfo {
            queue: self.queue.name.clone(),
            error: error.to_owned(),
            attempts,
            at: Utc::now(),
        };
        let mut headers = delivery.headers.clone();
        dead_letter::mark(&mut headers, &info);
        let outgoing = Outgoing {
            target: Target::Queue(self.queue.dead_letter_queue.clone()),
            routing_key: delivery.routing_key.clone(),
            message_id: delivery.message_id.clone(),
            headers,
            body: delivery.body.clone(),
        };
        match self
            .broker
            .publish_confirmed(std::slice::from_ref(&outgoing))
            .await
        {
            Ok(()) => {
                self.metrics
                    .dead_lettered
                    .add(1, std::slice::from_ref(&self.metrics.queue));
                ack(delivery).await;
            }
            // Not acknowledged: the broker redelivers it and we try again.
            Err(error) => {
                tracing::warn!(%error, "dead-lettering failed; leaving the message to be redelivered")
            }
        }
    }
}

async fn ack(delivery: Delivery) {
    if let Err(error) = delivery.ack().await {
        // The effect is committed; the redelivery will be a no-op.
        tracing::debug!(%error, "ack failed; a redelivery will be absorbed by the inbox");
    }
}

fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(max)
}

/// How often each consumer's queue depth is measured for
/// `inspraak.bus.consumer.lag`.
const LAG_INTERVAL: Duration = Duration::from_secs(15);

/// The last measured depth of each consumer's queue, read by one observable
/// gauge for all of them.
fn lag_of(queue: &str) -> Arc<std::sync::atomic::AtomicU64> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, atomic::AtomicU64, atomic::Ordering};
    type Cells = Mutex<HashMap<String, Arc<AtomicU64>>>;
    static CELLS: OnceLock<Arc<Cells>> = OnceLock::new();
    static GAUGE: OnceLock<opentelemetry::metrics::ObservableGauge<u64>> = OnceLock::new();
    let cells = CELLS.get_or_init(|| Arc::new(Mutex::new(HashMap::new())));
    GAUGE.get_or_init(|| {
        let cells = Arc::clone(cells);
        opentelemetry::global::meter("inspraak-bus")
            .u64_observable_gauge("inspraak.bus.consumer.lag")
            .with_description("Messages in a consumer's queue not yet handled")
            .with_callback(move |observer| {
                if let Ok(cells) = cells.lock() {
                    for (queue, depth) in cells.iter() {
                        observer.observe(
                            depth.load(Ordering::Relaxed),
                            &[KeyValue::new("messaging.destination.name", queue.clone())],
                        );
                    }
                }
            })
            .build()
    });
    let mut cells = cells
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(
        cells
            .entry(queue.to_owned())
            .or_insert_with(|| Arc::new(AtomicU64::new(0))),
    )
}

/// Measures `queue`'s depth every [`LAG_INTERVAL`] until `shutdown`.
async fn measure_lag(broker: Broker, queue: String, shutdown: CancellationToken) {
    let depth = lag_of(&queue);
    loop {
        // First wait: the consumer declares its queue meanwhile, and a
        // missing queue is not worth a broker error.
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LAG_INTERVAL) => {}
        }
        if let Ok((_, total)) = broker.peek(&queue, 0).await {
            depth.store(total, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert_eq!(backoff(base, max, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, max, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, max, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, max, 5), max);
        assert_eq!(backoff(base, max, 60), max);
    }
}
