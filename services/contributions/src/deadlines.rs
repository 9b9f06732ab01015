//! What the passing of time does to inputs, and what support does to
//! proposals: an input past its answer deadline without feedback is
//! announced overdue once; a proposal without enough supporters by its
//! expiry expires; a proposal that gathers them reaches its threshold. Each
//! change is claimed by a conditional update in the transaction that
//! announces it, so it happens once across replicas and restarts.

use std::time::Duration as StdDuration;

use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio_util::sync::CancellationToken;

use crate::answers::{Cause, change_status};
use crate::counters::{self, Stat};
use crate::error::Result;
use crate::inputs::{self, status_of};
use crate::state::State;
use crate::status::Status;
use crate::store::entities::inputs as input_rows;
use crate::wire::timestamp;

/// Inputs handled per transaction: small enough to keep locks short.
const BATCH: u64 = 100;

/// Scans every `interval` until `shutdown`.
pub async fn run(state: State, interval: StdDuration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = scan(&state).await {
            tracing::warn!(%error, "the deadline scan failed; retrying at the next tick");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass: every input that became overdue, every proposal that expired.
/// Returns how many were announced.
pub async fn scan(state: &State) -> Result<u64> {
    let mut announced = 0;
    loop {
        let n = announce_overdue(state).await?;
        announced += n;
        if n < BATCH {
            break;
        }
    }
    loop {
        let n = expire_proposals(state).await?;
        announced += n;
        if n < BATCH {
            break;
        }
    }
    Ok(announced)
}

async fn announce_overdue(state: &State) -> Result<u64> {
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let due = input_rows::Entity::find()
        .filter(input_rows::Column::FeedbackGiven.eq(false))
        .filter(input_rows::Column::OverdueAt.is_null())
        .filter(input_rows::Column::AnswerDeadline.lte(now))
        .filter(input_rows::Column::DeletedAt.is_null())
        .order_by_asc(input_rows::Column::AnswerDeadline)
        .limit(BATCH)
        .all(&txn)
        .await?;
    let mut announced = 0;
    for input in &due {
        // The claim: another replica that got here first leaves no row.
        let claimed = input_rows::Entity::update_many()
            .col_expr(input_rows::Column::OverdueAt, Expr::value(now))
            .filter(input_rows::Column::Id.eq(input.id))
            .filter(input_rows::Column::OverdueAt.is_null())
            .filter(input_rows::Column::FeedbackGiven.eq(false))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        counters::add(&txn, input.project_id, input.phase_id, Stat::Overdue, 1).await?;
        state
            .publish(
                &txn,
                "contributions.input.overdue.v1",
                "input",
                input.id,
                input.version,
                &events::InputOverdue {
                    input_id: input.id.to_string(),
                    project_id: input.project_id.to_string(),
                    title: input.title.clone(),
                    answer_deadline: Some(timestamp(input.answer_deadline)),
                    phase_id: input.phase_id.to_string(),
                },
            )
            .await?;
        announced += 1;
    }
    state.outbox.commit(txn).await?;
    crate::metrics::get().inputs_overdue.add(announced, &[]);
    Ok(announced)
}

async fn expire_proposals(state: &State) -> Result<u64> {
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let due = input_rows::Entity::find()
        .filter(input_rows::Column::Status.eq(Status::Proposed.name()))
        .filter(input_rows::Column::ExpiresAt.lte(now))
        .filter(input_rows::Column::DeletedAt.is_null())
        .order_by_asc(input_rows::Column::ExpiresAt)
        .limit(BATCH)
        .all(&txn)
        .await?;
    let mut expired = 0;
    for mut input in due {
        change_status(state, &txn, &mut input, Status::Expired, "", Cause::Expired).await?;
        // `save` is conditional on the version read: a concurrent change
        // (a late supporter) wins, and this proposal is looked at again.
        match inputs::save(state, &txn, input).await {
            Ok(_) => expired += 1,
            Err(crate::error::Error::Aborted(_)) => {
                drop(txn);
                return Ok(expired);
            }
            Err(other) => return Err(other),
        }
    }
    state.outbox.commit(txn).await?;
    Ok(expired)
}

/// After support for `input` changed within `txn`: a proposal whose up
/// reactions reach its threshold before it expires reaches
/// `threshold_reached`. Returns the input as saved.
pub async fn support_changed(
    state: &State,
    txn: &DatabaseTransaction,
    input: input_rows::Model,
) -> Result<input_rows::Model> {
    let now = state.clock.now();
    let due = status_of(&input) == Status::Proposed
        && input.support_threshold > 0
        && input.reactions_up >= input.support_threshold
        && input.expires_at.is_none_or(|at| now < at);
    if !due {
        return Ok(input);
    }
    let mut input = input;
    change_status(
        state,
        txn,
        &mut input,
        Status::ThresholdReached,
        "",
        Cause::ThresholdReached,
    )
    .await?;
    inputs::save(state, txn, input).await
}
