//! Consuming events: at least once from the broker, exactly once in effect.
//!
//! Each event is applied in a database transaction that also records its id
//! in the `inbox`; the broker's ack follows the commit. A redelivered event
//! finds its id in the inbox and is acknowledged without effect. A handler
//! that fails is retried with back-off; after the last attempt the message is
//! published (confirmed) to the service's dead-letter queue and only then
//! acknowledged, so nothing is lost between the two.
//!
//! Deliveries that are already in hand when the consumer takes work — up to
//! `batch` of them, never waiting for more — are applied together in one
//! transaction (the `batch` module): one commit and one WAL flush for all,
//! instead of one per event. Any failure in a batch rolls it back whole; the
//! event whose handler failed is set apart, to be retried and dead-lettered
//! alone, and the others go again together, not held back by it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use inspraak_proto::events::v1::Envelope;
use prost::Message;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};

use crate::broker::{Broker, BrokerError, Delivery, Outgoing, QueueSpec, Subscription, Target};
use crate::dead_letter::{self, DeadLetterInfo};
use crate::store::inbox;

mod batch;
mod lag;
mod metrics;

use batch::BatchFailure;

use metrics::ConsumerMetrics;

/// Why a handler did not apply an event.
#[derive(Debug, Clone, thiserror::Error)]
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

    /// Whether `event` may be applied together with its neighbours in the
    /// queue by [`handle_many`](Self::handle_many). The default: never.
    fn joins(&self, event: &Envelope) -> bool {
        let _ = event;
        false
    }

    /// Applies `events` — neighbours in the queue, each accepted by
    /// [`joins`](Self::joins), none handled before — within `txn`, with the
    /// same effect as [`handle`](Self::handle) on each in turn, in fewer
    /// statements. An error rolls the whole batch back; its events are then
    /// applied one by one with `handle`, so the error need not say which
    /// event caused it.
    fn handle_many(
        &self,
        txn: &DatabaseTransaction,
        events: &[Joined<'_>],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for one in events {
                self.handle(txn, one.event)
                    .instrument(one.span.clone())
                    .await?;
            }
            Ok(())
        }
    }
}

/// An event given to [`EventHandler::handle_many`], with the span its
/// handling is traced in (work done for it belongs in that span: a mail it
/// causes continues the event's trace).
pub struct Joined<'a> {
    pub event: &'a Envelope,
    pub span: &'a Span,
}

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Unacknowledged deliveries the broker may hand over at once.
    pub prefetch: u16,
    /// Transactions applying deliveries at once (1 on SQLite, which has one
    /// writer).
    pub concurrency: usize,
    /// Most deliveries applied in one transaction: those already in hand when
    /// the consumer takes work, never waiting for more (so a lone event goes
    /// alone, at once). 1 applies every event in a transaction of its own.
    pub batch: usize,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub retry_backoff: Duration,
    pub max_backoff: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Duplicate,
}

/// A delivery whose body decoded to an envelope, with the span its handling
/// is traced in.
struct Opened {
    delivery: Delivery,
    envelope: Envelope,
    span: Span,
}

pub struct Consumer<H> {
    db: DatabaseConnection,
    broker: Broker,
    queue: QueueSpec,
    handler: Arc<H>,
    settings: ConsumerSettings,
    metrics: ConsumerMetrics,
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
        tokio::spawn(lag::measure_lag(
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
        // A task of its own takes the deliveries, so taking the next one
        // never waits half-done while the ones in hand are applied and
        // acknowledged (the embedded broker's take holds its store).
        let (taken, in_hand) =
            tokio::sync::mpsc::channel(usize::from(self.settings.prefetch).max(1));
        let taker = AbortOnDrop(tokio::spawn(take_deliveries(subscription, taken)));
        let deliveries = futures_util::stream::unfold(in_hand, |mut in_hand| async move {
            in_hand.recv().await.map(|item| (item, in_hand))
        });
        let mut lost = None;
        deliveries
            .take_until(shutdown.cancelled())
            // What is ready now, up to `batch`: waits for nothing more.
            .ready_chunks(self.settings.batch.max(1))
            .for_each_concurrent(self.settings.concurrency, |items| {
                let mut in_hand = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Ok(delivery) => in_hand.push(delivery),
                        Err(error) => lost = Some(error),
                    }
                }
                self.process(in_hand, shutdown)
            })
            .await;
        drop(taker);
        match lost {
            Some(error) => Err(error),
            None if shutdown.is_cancelled() => Ok(()),
            None => Err(BrokerError::Connection("the subscription ended".to_owned())),
        }
    }

    /// Applies the deliveries in hand: together when there are several; an
    /// event that fails there is set apart and retried alone.
    async fn process(&self, deliveries: Vec<Delivery>, shutdown: &CancellationToken) {
        let mut opened = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if let Some(one) = self.open(delivery).await {
                opened.push(one);
            }
        }
        // Events whose handler failed in a batch, with that first error.
        let mut set_apart = Vec::new();
        while opened.len() > 1 {
            match self.apply_batch(&opened).await {
                Ok(outcomes) => {
                    let mut committed = Vec::with_capacity(opened.len());
                    for (one, outcome) in opened.drain(..).zip(outcomes) {
                        one.span
                            .in_scope(|| self.count(&one.envelope.event_id, outcome));
                        committed.push(one.delivery);
                    }
                    // One frame for the batch where the broker allows it.
                    if let Err(error) = Delivery::ack_all(committed).await {
                        tracing::debug!(%error, "ack failed; a redelivery will be absorbed by the inbox");
                    }
                }
                // The others go again together, not held back by its
                // retries.
                Err(BatchFailure {
                    culprit: Some(index),
                    error,
                }) => {
                    tracing::debug!(events = opened.len(), %error, "batch rolled back; setting apart the event that failed");
                    set_apart.push((opened.remove(index), error));
                }
                Err(BatchFailure {
                    culprit: None,
                    error,
                }) => {
                    tracing::debug!(events = opened.len(), %error, "batch rolled back; applying its events one by one");
                    break;
                }
            }
        }
        for one in opened {
            self.retry_alone(one, None, shutdown).await;
        }
        for (one, error) in set_apart {
            // Its first attempt was the batch's.
            self.retry_alone(one, Some(error), shutdown).await;
        }
    }

    /// Decodes a delivery's envelope and opens its span, continuing the
    /// trace it carries; dead-letters a body that is not an event.
    async fn open(&self, delivery: Delivery) -> Option<Opened> {
        let envelope = match Envelope::decode(delivery.body.as_slice()) {
            Ok(envelope) if !envelope.event_id.is_empty() => envelope,
            Ok(_) => {
                self.dead_letter(delivery, "the envelope has no event id", 0)
                    .await;
                return None;
            }
            Err(error) => {
                self.dead_letter(
                    delivery,
                    &format!("the body is not an Envelope: {error}"),
                    0,
                )
                .await;
                return None;
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
        Some(Opened {
            delivery,
            envelope,
            span,
        })
    }

    /// Acknowledges an event whose transaction committed.
    async fn acknowledge(&self, delivery: Delivery, event_id: &str, outcome: Outcome) {
        self.count(event_id, outcome);
        ack(delivery).await;
    }

    /// Counts a committed event's outcome.
    fn count(&self, event_id: &str, outcome: Outcome) {
        match outcome {
            Outcome::Applied => self.metrics.applied(1),
            Outcome::Duplicate => {
                tracing::debug!(%event_id, "already handled; acknowledging without effect");
                self.metrics.duplicates(1);
            }
        }
    }

    /// Applies one event in a transaction of its own, with retries and
    /// back-off, dead-lettering it after the last attempt. `failed` is the
    /// error of an attempt already made (in a batch).
    async fn retry_alone(
        &self,
        one: Opened,
        failed: Option<HandlerError>,
        shutdown: &CancellationToken,
    ) {
        let span = one.span.clone();
        self.retry_alone_in_span(one, failed, shutdown)
            .instrument(span)
            .await;
    }

    async fn retry_alone_in_span(
        &self,
        one: Opened,
        failed: Option<HandlerError>,
        shutdown: &CancellationToken,
    ) {
        let Opened {
            delivery, envelope, ..
        } = one;
        let mut attempt = 1;
        let mut previous = failed;
        loop {
            let error = match previous.take() {
                Some(error) => error,
                None => {
                    let started = std::time::Instant::now();
                    let outcome = self.apply(&envelope).await;
                    self.metrics.transaction(1, started.elapsed().as_secs_f64());
                    match outcome {
                        Ok(outcome) => {
                            if outcome == Outcome::Applied {
                                self.metrics.committed(1);
                            }
                            return self
                                .acknowledge(delivery, &envelope.event_id, outcome)
                                .await;
                        }
                        Err(error) => error,
                    }
                }
            };
            let reason = match error {
                HandlerError::Reject(reason) => {
                    return self.dead_letter(delivery, &reason, attempt).await;
                }
                HandlerError::Retry(reason) => reason,
            };
            if attempt >= self.settings.max_attempts {
                return self.dead_letter(delivery, &reason, attempt).await;
            }
            self.metrics.retried();
            let delay = backoff(
                self.settings.retry_backoff,
                self.settings.max_backoff,
                attempt,
            );
            tracing::warn!(event_id = %envelope.event_id, attempt, error = %reason, retry_in = ?delay, "handler failed");
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
        if !record_in_inbox(&txn, &self.queue.name, envelope).await? {
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
                self.metrics.dead_lettered();
                ack(delivery).await;
            }
            // Not acknowledged: the broker redelivers it and we try again.
            Err(error) => {
                tracing::warn!(%error, "dead-lettering failed; leaving the message to be redelivered")
            }
        }
    }
}

/// Passes `subscription`'s deliveries on until it ends or nobody takes them.
async fn take_deliveries(
    mut subscription: Subscription,
    taken: tokio::sync::mpsc::Sender<Result<Delivery, BrokerError>>,
) {
    while let Some(item) = subscription.next().await {
        if taken.send(item).await.is_err() {
            return;
        }
    }
}

/// Stops a task when dropped: the deliveries' taker ends with the consumer
/// loop that reads them, however that loop ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records `envelope` as handled by `consumer` within `txn`: false when it
/// was already (a redelivery), and the transaction must then change nothing
/// on its behalf.
async fn record_in_inbox(
    txn: &DatabaseTransaction,
    consumer: &str,
    envelope: &Envelope,
) -> Result<bool, DbErr> {
    let recorded = inbox::Entity::insert(inbox::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(envelope.event_id.clone()),
        handled_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([inbox::Column::Consumer, inbox::Column::EventId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(recorded > 0)
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
