//! Writing events: into the `outbox` table, in the same transaction as the
//! change they describe. The [`Relay`](crate::relay::Relay) publishes them.

use std::sync::Arc;

use prost::Message;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait};
use tokio::sync::Notify;

use crate::event::{EventType, NewEvent};
use crate::store::outbox;

/// A service's handle for writing events; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    producer: String,
    /// Wakes the relay right after a commit instead of at its next poll.
    wake: Arc<Notify>,
}

impl Outbox {
    pub(crate) fn new(producer: impl Into<String>, wake: Arc<Notify>) -> Self {
        Self {
            producer: producer.into(),
            wake,
        }
    }

    /// Adds `event` to the outbox within `txn`. Returns the event id.
    pub async fn write<C: ConnectionTrait>(
        &self,
        txn: &C,
        event: NewEvent,
    ) -> Result<String, DbErr> {
        let (row, event_id) = self.row(event);
        outbox::Entity::insert(row)
            .exec_without_returning(txn)
            .await?;
        Ok(event_id)
    }

    /// Adds `events` to the outbox within `txn`, in their order, with one
    /// statement (for writers that make many events at once). Returns their
    /// ids.
    pub async fn write_all<C: ConnectionTrait>(
        &self,
        txn: &C,
        events: impl IntoIterator<Item = NewEvent>,
    ) -> Result<Vec<String>, DbErr> {
        let (rows, ids): (Vec<_>, Vec<_>) = events.into_iter().map(|e| self.row(e)).unzip();
        if !rows.is_empty() {
            outbox::Entity::insert_many(rows)
                .exec_without_returning(txn)
                .await?;
        }
        Ok(ids)
    }

    /// The outbox row of `event` (traced by the current span) and its id.
    fn row(&self, event: NewEvent) -> (outbox::ActiveModel, String) {
        let occurred_at = event.occurred_at;
        let traceparent = inspraak_kit::telemetry::current_traceparent();
        let envelope = event.into_envelope(&self.producer, traceparent.clone());
        let event_id = envelope.event_id.clone();
        let row = outbox::ActiveModel {
            event_id: Set(event_id.clone()),
            routing_key: Set(envelope.r#type.clone()),
            body: Set(envelope.encode_to_vec()),
            traceparent: Set(traceparent),
            created_at: Set(occurred_at),
            ..Default::default()
        };
        (row, event_id)
    }

    /// Builds and writes an event in one call: `event_type` is the routing
    /// key (`<service>.<aggregate>.<verb>.v<N>`).
    #[allow(clippy::too_many_arguments)]
    pub async fn record<C: ConnectionTrait, M: prost::Name>(
        &self,
        txn: &C,
        event_type: &str,
        aggregate_type: &str,
        aggregate_id: &str,
        aggregate_version: u64,
        occurred_at: chrono::DateTime<chrono::Utc>,
        payload: &M,
    ) -> Result<String, DbErr> {
        let event = NewEvent::new(
            parse_type(event_type)?,
            aggregate_type,
            aggregate_id,
            aggregate_version,
            occurred_at,
            payload,
        );
        self.write(txn, event).await
    }

    /// Builds and writes events of one type, all occurring at
    /// `occurred_at`, in one statement (as [`write_all`](Self::write_all)):
    /// `items` are each aggregate's id, its version and the payload.
    /// Returns their ids, in order.
    pub async fn record_all<C: ConnectionTrait, M: prost::Name>(
        &self,
        txn: &C,
        event_type: &str,
        aggregate_type: &str,
        occurred_at: chrono::DateTime<chrono::Utc>,
        items: impl IntoIterator<Item = (String, u64, M)>,
    ) -> Result<Vec<String>, DbErr> {
        let event_type = parse_type(event_type)?;
        let events = items.into_iter().map(|(aggregate_id, version, payload)| {
            NewEvent::new(
                event_type.clone(),
                aggregate_type,
                aggregate_id,
                version,
                occurred_at,
                &payload,
            )
        });
        self.write_all(txn, events).await
    }

    /// Commits `txn` and wakes the relay.
    pub async fn commit(&self, txn: DatabaseTransaction) -> Result<(), DbErr> {
        txn.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Wakes the relay (for callers that committed themselves).
    pub fn committed(&self) {
        self.wake.notify_one();
    }
}

/// An event type as a writer names it; a malformed one is the writer's bug,
/// reported as the database error the write returns.
fn parse_type(event_type: &str) -> Result<EventType, DbErr> {
    event_type
        .parse()
        .map_err(|e: String| DbErr::Custom(format!("event type: {e}")))
}
