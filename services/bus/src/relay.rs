//! Publishing the outbox.
//!
//! The relay claims a batch of the oldest rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so replicas share the work without publishing a row twice at
//! once), publishes the whole batch, waits for every confirm, and only then
//! deletes the rows and commits. A failure anywhere rolls back: the rows stay
//! and are published again later, so an event may reach the broker twice but
//! is never lost; consumers' inboxes absorb the duplicates.
//!
//! An event no queue is bound to is returned by the broker. It may be early
//! (on a platform's first start, before its consumers declared their
//! queues), so it stays in the outbox and is tried again; but it must not
//! hold back the events behind it, so such a batch is published one event
//! at a time, and between its tries (every `UNROUTED_RETRY`) it is left out
//! of the batches, so that however many such events wait, the ones behind
//! them go out. An event still unroutable after `BUS_UNROUTED_GRACE` has no
//! consumer (not every fact interests another service): it is deleted with a
//! warning.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, BrokerError, Headers, Outgoing, Target};
use crate::store::outbox;

#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Rows claimed and published per round trip.
    pub batch_size: u64,
    /// How often to look for rows written by other replicas (rows written by
    /// this process wake the relay at once).
    pub poll_interval: Duration,
    pub max_backoff: Duration,
    /// How long an event no queue is bound to is tried again before it is
    /// deleted as having no consumer.
    pub unrouted_grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox database: {0}")]
    Database(#[from] DbErr),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

pub struct Relay {
    db: DatabaseConnection,
    broker: Broker,
    wake: Arc<Notify>,
    settings: RelaySettings,
    published: Counter<u64>,
    confirm_latency: Histogram<f64>,
    backlog: Arc<Backlog>,
    /// Events the broker returned, by event id.
    unrouted: Mutex<HashMap<String, Returned>>,
}

/// An event the broker returned: no queue was bound to its routing key.
struct Returned {
    /// Its outbox row, left out of batches until its next try.
    row: i64,
    first: Instant,
    last: Instant,
}

/// How often an event the broker returned is tried again.
const UNROUTED_RETRY: Duration = Duration::from_secs(5);

/// The outbox as last measured, read by the backlog gauges. A backlog that
/// grows or ages means events are not reaching the broker.
#[derive(Default)]
struct Backlog {
    rows: AtomicU64,
    oldest_age_ms: AtomicU64,
}

/// How often the backlog is counted (two small queries).
const BACKLOG_INTERVAL: Duration = Duration::from_secs(1);

impl Relay {
    pub(crate) fn new(
        service: &str,
        db: DatabaseConnection,
        broker: Broker,
        wake: Arc<Notify>,
        settings: RelaySettings,
    ) -> Self {
        let meter = opentelemetry::global::meter("inspraak.bus");
        let backlog = Arc::new(Backlog::default());
        let service = KeyValue::new("service.name", format!("inspraak-{service}"));
        let (rows, attributes) = (backlog.clone(), [service.clone()]);
        meter
            .u64_observable_gauge("inspraak.bus.outbox.backlog")
            .with_description("Events written to the outbox and not yet confirmed by the broker")
            .with_callback(move |gauge| {
                gauge.observe(rows.rows.load(Ordering::Relaxed), &attributes)
            })
            .build();
        let (age, attributes) = (backlog.clone(), [service]);
        meter
            .f64_observable_gauge("inspraak.bus.outbox.oldest_age")
            .with_unit("s")
            .with_description("Age of the oldest event waiting in the outbox")
            .with_callback(move |gauge| {
                gauge.observe(
                    age.oldest_age_ms.load(Ordering::Relaxed) as f64 / 1000.0,
                    &attributes,
                )
            })
            .build();
        Self {
            backlog,
            unrouted: Mutex::new(HashMap::new()),
            db,
            broker,
            wake,
            settings,
            published: meter
                .u64_counter("inspraak.bus.published")
                .with_description("Events published and confirmed by the broker")
                .build(),
            confirm_latency: meter
                .f64_histogram("inspraak.bus.publish.duration")
                .with_unit("s")
                .with_description("Time from publishing a batch to its last confirm")
                .with_boundaries(inspraak_kit::telemetry::DURATION_BUCKETS.to_vec())
                .build(),
        }
    }

    /// Publishes until `shutdown`; never returns early on broker or database
    /// failures, it backs off and tries again.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut measured: Option<Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            if measured.is_none_or(|at| at.elapsed() >= BACKLOG_INTERVAL) {
                if let Err(error) = self.measure_backlog().await {
                    tracing::debug!(%error, "counting the outbox failed");
                }
                measured = Some(Instant::now());
            }
            match self.publish_batch().await {
                Ok(count) => {
                    backoff = Duration::from_millis(100);
                    if count as u64 >= self.settings.batch_size {
                        continue; // more rows are waiting
                    }
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "outbox relay failed; the events stay in the outbox");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    /// Counts the outbox and the age of its oldest row, for the gauges.
    async fn measure_backlog(&self) -> Result<(), DbErr> {
        let rows = outbox::Entity::find().count(&self.db).await?;
        // Events the broker returned did reach it; waiting out their grace
        // is not a relay that cannot get through, which is what the age
        // tells operators. The oldest other row is measured.
        let returned = self.unrouted_lock().len() as u64;
        let oldest_rows = outbox::Entity::find()
            .order_by_asc(outbox::Column::Id)
            .limit(returned + 1)
            .all(&self.db)
            .await?;
        let oldest = {
            let unrouted = self.unrouted_lock();
            oldest_rows
                .into_iter()
                .find(|row| !unrouted.contains_key(&row.event_id))
                .map_or(0, |row| {
                    (chrono::Utc::now() - row.created_at)
                        .num_milliseconds()
                        .max(0)
                })
        };
        self.backlog.rows.store(rows, Ordering::Relaxed);
        self.backlog
            .oldest_age_ms
            .store(u64::try_from(oldest).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }

    /// Claims, publishes and removes one batch; returns how many rows it
    /// published.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let txn = inspraak_kit::db::begin_write(&self.db).await?;
        // Returned events not yet due for another try stay out of the batch.
        let resting: Vec<i64> = self
            .unrouted_lock()
            .values()
            .filter(|returned| returned.last.elapsed() < UNROUTED_RETRY)
            .map(|returned| returned.row)
            .collect();
        let mut claim = outbox::Entity::find()
            .order_by_asc(outbox::Column::Id)
            .limit(self.settings.batch_size)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        if !resting.is_empty() {
            claim = claim.filter(outbox::Column::Id.is_not_in(resting));
        }
        let rows = claim.all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        // One producer span per event, in the trace of the change that wrote
        // it; the message carries this span's context, so the consumer's
        // span is its child. The spans end once the broker confirmed.
        let spans: Vec<tracing::Span> = rows
            .iter()
            .map(|row| {
                let span = tracing::info_span!(
                    "bus.publish",
                    otel.name = %format!("{} publish", row.routing_key),
                    otel.kind = "producer",
                    messaging.system = "rabbitmq",
                    messaging.message.id = %row.event_id,
                    messaging.operation.type = "publish",
                    trace_id = tracing::field::Empty,
                    span_id = tracing::field::Empty,
                );
                inspraak_kit::telemetry::continue_trace(&span, &row.traceparent);
                inspraak_kit::telemetry::record_trace_ids(&span);
                span
            })
            .collect();
        let batch: Vec<Outgoing> = rows
            .iter()
            .zip(&spans)
            .map(|(row, span)| {
                let mut headers = Headers::new();
                let traceparent = span.in_scope(inspraak_kit::telemetry::current_traceparent);
                let traceparent = if traceparent.is_empty() {
                    row.traceparent.clone()
                } else {
                    traceparent
                };
                if !traceparent.is_empty() {
                    headers.insert("traceparent".to_owned(), traceparent);
                }
                Outgoing {
                    target: Target::Events,
                    routing_key: row.routing_key.clone(),
                    message_id: row.event_id.clone(),
                    headers,
                    body: row.body.clone(),
                }
            })
            .collect();
        let started = std::time::Instant::now();
        // A batch holding an event returned before goes one by one at once:
        // publishing it whole would be returned again, after RabbitMQ had
        // routed (and so would duplicate) the rest.
        let returned_before = {
            let unrouted = self.unrouted_lock();
            rows.iter().any(|row| unrouted.contains_key(&row.event_id))
        };
        let done: Vec<i64> = if returned_before {
            self.publish_one_by_one(&rows, &batch).await?
        } else {
            match self.broker.publish_confirmed(&batch).await {
                Ok(()) => rows.iter().map(|row| row.id).collect(),
                Err(BrokerError::Unroutable { .. }) => {
                    self.publish_one_by_one(&rows, &batch).await?
                }
                Err(error) => return Err(error.into()),
            }
        };
        self.confirm_latency
            .record(started.elapsed().as_secs_f64(), &[]);
        if !done.is_empty() {
            outbox::Entity::delete_many()
                .filter(outbox::Column::Id.is_in(done.iter().copied()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        drop(spans);
        self.published.add(done.len() as u64, &[]);
        Ok(done.len())
    }

    /// A batch the broker returned an event of: each event on its own, so
    /// the routable ones go out. Returns the rows that are done with:
    /// published, or unroutable for longer than the grace and so dropped.
    async fn publish_one_by_one(
        &self,
        rows: &[outbox::Model],
        batch: &[Outgoing],
    ) -> Result<Vec<i64>, RelayError> {
        let mut done = Vec::new();
        for (row, message) in rows.iter().zip(batch) {
            match self
                .broker
                .publish_confirmed(std::slice::from_ref(message))
                .await
            {
                Ok(()) => {
                    self.unrouted_lock().remove(&row.event_id);
                    done.push(row.id);
                }
                Err(BrokerError::Unroutable { routing_key }) => {
                    let mut unrouted = self.unrouted_lock();
                    let now = Instant::now();
                    let returned = unrouted.entry(row.event_id.clone()).or_insert(Returned {
                        row: row.id,
                        first: now,
                        last: now,
                    });
                    returned.last = now;
                    if returned.first.elapsed() >= self.settings.unrouted_grace {
                        tracing::warn!(
                            event_id = %row.event_id,
                            %routing_key,
                            "no queue is bound to this event's routing key: no service consumes it; dropped from the outbox"
                        );
                        unrouted.remove(&row.event_id);
                        done.push(row.id);
                    }
                }
                // The rows published so far are confirmed: keep that, and let
                // the caller back off for the rest.
                Err(error) if !done.is_empty() => {
                    tracing::debug!(%error, "publishing one by one stopped");
                    break;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(done)
    }

    fn unrouted_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Returned>> {
        self.unrouted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
