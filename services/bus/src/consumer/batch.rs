//! Applying the deliveries in hand in one transaction.
//!
//! Each event still gets its inbox row in the transaction of its effect, so a
//! redelivery finds it exactly when the effect is there; the acks follow the
//! commit. Nothing of a batch survives a failure: the transaction is rolled
//! back whole, and the caller sets apart the event whose handler failed (to
//! be retried alone) and applies the others together again — or, when the
//! failure was the transaction's own, one by one.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use tracing::Instrument;

use super::{Consumer, EventHandler, HandlerError, Joined, Opened, Outcome, record_in_inbox};
use crate::store::inbox;

/// Why a batch was rolled back.
pub(super) struct BatchFailure {
    /// The position of the event whose handler failed; none when the
    /// failure was the transaction's own (begin, the inbox, the commit).
    pub culprit: Option<usize>,
    pub error: HandlerError,
}

impl BatchFailure {
    fn of_transaction(error: impl Into<HandlerError>) -> Self {
        Self {
            culprit: None,
            error: error.into(),
        }
    }
}

impl<H: EventHandler> Consumer<H> {
    /// Applies `batch` in one transaction: each event's outcome, in order,
    /// once committed.
    pub(super) async fn apply_batch(&self, batch: &[Opened]) -> Result<Vec<Outcome>, BatchFailure> {
        let started = std::time::Instant::now();
        let txn = inspraak_kit::db::begin_write(&self.db)
            .await
            .map_err(BatchFailure::of_transaction)?;
        let recorded = record_all_in_inbox(&txn, &self.queue.name, batch)
            .await
            .map_err(BatchFailure::of_transaction)?;
        let outcomes = match self.apply_in(&txn, batch, recorded).await {
            Ok(outcomes) => outcomes,
            Err(failure) => {
                // Dropping the transaction would roll it back too; saying
                // so returns the connection to the pool at once.
                if let Err(error) = txn.rollback().await {
                    tracing::debug!(%error, "rolling back a failed batch");
                }
                return Err(failure);
            }
        };
        txn.commit().await.map_err(BatchFailure::of_transaction)?;
        let applied = outcomes.iter().filter(|o| **o == Outcome::Applied).count();
        self.metrics
            .transaction(batch.len(), started.elapsed().as_secs_f64());
        if applied > 0 {
            self.metrics.committed(applied);
        }
        Ok(outcomes)
    }

    /// Applies each event of `batch` not `recorded` before, in order.
    async fn apply_in(
        &self,
        txn: &DatabaseTransaction,
        batch: &[Opened],
        recorded: Vec<bool>,
    ) -> Result<Vec<Outcome>, BatchFailure> {
        let mut outcomes = Vec::with_capacity(batch.len());
        // Neighbouring events the handler applies together, by position.
        let mut run: Vec<usize> = Vec::new();
        for (index, (one, recorded)) in batch.iter().zip(recorded).enumerate() {
            if !recorded {
                // Already applied (an earlier delivery, or the same event
                // twice in this batch): no effect on its behalf.
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            outcomes.push(Outcome::Applied);
            if self.handler.joins(&one.envelope) {
                run.push(index);
                continue;
            }
            self.apply_run(txn, batch, &mut run).await?;
            self.apply_one(txn, batch, index).await?;
        }
        self.apply_run(txn, batch, &mut run).await?;
        Ok(outcomes)
    }

    /// Applies the event at `index` with `handle`, in its span.
    async fn apply_one(
        &self,
        txn: &DatabaseTransaction,
        batch: &[Opened],
        index: usize,
    ) -> Result<(), BatchFailure> {
        let one = &batch[index];
        self.handler
            .handle(txn, &one.envelope)
            .instrument(one.span.clone())
            .await
            .map_err(|error| BatchFailure {
                culprit: Some(index),
                error,
            })
    }

    /// Applies the events of `run` (emptied) together; one alone goes
    /// through `handle`, so a failure names it.
    async fn apply_run(
        &self,
        txn: &DatabaseTransaction,
        batch: &[Opened],
        run: &mut Vec<usize>,
    ) -> Result<(), BatchFailure> {
        match run.as_slice() {
            [] => return Ok(()),
            [index] => self.apply_one(txn, batch, *index).await?,
            indices => {
                let joined: Vec<Joined<'_>> = indices
                    .iter()
                    .map(|&index| Joined {
                        event: &batch[index].envelope,
                        span: &batch[index].span,
                    })
                    .collect();
                self.handler
                    .handle_many(txn, &joined)
                    .await
                    .map_err(|error| BatchFailure {
                        culprit: None,
                        error,
                    })?;
            }
        }
        run.clear();
        Ok(())
    }
}

/// Records every event of `batch` as handled by `consumer` within `txn`, in
/// one statement where the database can say which rows it inserted: for each
/// event, in order, false when it was handled before — or is the same event
/// as one earlier in the batch.
async fn record_all_in_inbox(
    txn: &DatabaseTransaction,
    consumer: &str,
    batch: &[Opened],
) -> Result<Vec<bool>, DbErr> {
    if !txn.support_returning() {
        let mut recorded = Vec::with_capacity(batch.len());
        for one in batch {
            recorded.push(record_in_inbox(txn, consumer, &one.envelope).await?);
        }
        return Ok(recorded);
    }
    let now = Utc::now();
    let mut insert = Query::insert();
    insert.into_table(inbox::Entity).columns([
        inbox::Column::Consumer,
        inbox::Column::EventId,
        inbox::Column::HandledAt,
    ]);
    for one in batch {
        insert.values_panic([
            consumer.into(),
            one.envelope.event_id.as_str().into(),
            now.into(),
        ]);
    }
    insert
        .on_conflict(
            OnConflict::columns([inbox::Column::Consumer, inbox::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .returning_col(inbox::Column::EventId);
    let mut inserted = txn
        .query_all(&insert)
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "event_id"))
        .collect::<Result<HashSet<String>, DbErr>>()?;
    // The first of several deliveries of one event is the one applied.
    Ok(batch
        .iter()
        .map(|one| inserted.remove(&one.envelope.event_id))
        .collect())
}
