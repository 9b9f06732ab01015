//! Reactions on inputs: one per person per input, up or down (down only
//! where the phase takes dislikes; up is support in a proposals phase).
//! The primary key makes a reaction unique, so any number of identical
//! reactions arriving at once count once. Their counts are announced
//! coalesced: a burst of reactions on one input is one event, published by
//! [`run_coalescer`] once the burst's window has passed.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, InputCount, Stat};
use crate::deadlines;
use crate::error::{Error, Result};
use crate::on_input::OnInput;
use crate::state::State;
use crate::store::discussion::reactions;
use crate::store::entities::{inputs, projected_phases};
use crate::wire::{parse_uuid, timestamp};

/// Bursts announced per transaction: small enough to keep locks short.
const BATCH: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

impl Direction {
    fn from_wire(value: i32) -> Result<Self> {
        match proto::ReactionDirection::try_from(value) {
            Ok(proto::ReactionDirection::Up) => Ok(Self::Up),
            Ok(proto::ReactionDirection::Down) => Ok(Self::Down),
            _ => Err(Error::invalid("direction", "must be UP or DOWN")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    fn wire(self) -> proto::ReactionDirection {
        match self {
            Self::Up => proto::ReactionDirection::Up,
            Self::Down => proto::ReactionDirection::Down,
        }
    }

    fn count(self) -> InputCount {
        match self {
            Self::Up => InputCount::ReactionsUp,
            Self::Down => InputCount::ReactionsDown,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Up => Self::Down,
            Self::Down => Self::Up,
        }
    }
}

/// The phase of `input`, refusing unless it is open at `now`: the public
/// discussion of an input follows its phase.
pub async fn open_phase<C: ConnectionTrait>(
    db: &C,
    input: &inputs::Model,
    now: DateTime<Utc>,
) -> Result<projected_phases::Model> {
    let phase = projected_phases::Entity::find_by_id(input.phase_id)
        .filter(projected_phases::Column::ProjectId.eq(input.project_id))
        .one(db)
        .await?;
    phase_open(phase, now)
}

/// [`open_phase`], knowing the input's `phase` in its project (`None`: no
/// longer part of it).
pub fn phase_open(
    phase: Option<projected_phases::Model>,
    now: DateTime<Utc>,
) -> Result<projected_phases::Model> {
    let refuse = |why: &str| Err(Error::FailedPrecondition(why.to_owned()));
    let Some(phase) = phase else {
        return refuse("the input's phase is no longer part of the project");
    };
    if now < phase.starts_at {
        return refuse("the input's phase has not started");
    }
    if phase.ends_at.is_some_and(|end| now >= end) {
        return refuse("the input's phase has ended");
    }
    Ok(phase)
}

/// The input the caller may react on now, with its phase.
async fn reactable(
    txn: &DatabaseTransaction,
    caller: &Caller<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(OnInput, projected_phases::Model)> {
    let on = OnInput::read(txn, caller, id, now).await?;
    let phase = on.open_phase(now)?;
    on.permitted(caller, &phase.react, "reacting")?;
    Ok((on, phase))
}

fn summary(input: &inputs::Model, mine: Option<Direction>) -> proto::ReactionSummary {
    proto::ReactionSummary {
        input_id: input.id.to_string(),
        up: input.reactions_up,
        down: input.reactions_down,
        mine: mine.map_or(proto::ReactionDirection::Unspecified, Direction::wire) as i32,
    }
}

/// Applies the change of counts within `txn`: the statistics, the input's
/// counts (relative updates) with the burst to announce, and the
/// proposal's threshold. `total` is the change in the number of reactions.
async fn changed(
    state: &State,
    txn: &DatabaseTransaction,
    input: inputs::Model,
    deltas: &[(Direction, i64)],
    total: i64,
    now: DateTime<Utc>,
) -> Result<inputs::Model> {
    // The statistics' rows before the input's row, the order every writer
    // of both keeps, so that concurrent writers queue instead of
    // deadlocking.
    if total != 0 {
        counters::add(
            txn,
            input.project_id,
            input.phase_id,
            Stat::Reactions,
            total,
        )
        .await?;
    }
    // The counts and the burst's mark in one update of the input's row:
    // a coalescer claiming the burst meanwhile waits for this transaction
    // and then reads its counts.
    let counts: Vec<_> = deltas
        .iter()
        .map(|&(direction, delta)| (direction.count(), delta))
        .collect();
    let mut current = counters::react_on_input(txn, input.id, &counts, now)
        .await?
        .ok_or(Error::NotFound("input"))?;
    if deltas.iter().any(|&(d, _)| d == Direction::Up) {
        current = deadlines::support_changed(state, txn, current).await?;
    }
    Ok(current)
}

/// Commits a reaction's change. Reactions are announced by the coalescer,
/// so a reaction's own transaction writes an event only when it changes the
/// input's status (reaching its support threshold): the relay is woken
/// then, and not for an empty outbox after every reaction.
async fn commit(
    state: &State,
    txn: DatabaseTransaction,
    status_before: &str,
    input: &inputs::Model,
) -> Result<()> {
    if input.status != status_before {
        state.outbox.commit(txn).await?;
    } else {
        txn.commit().await?;
    }
    Ok(())
}

pub async fn react(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ReactRequest,
) -> Result<proto::ReactionSummary> {
    let id = parse_uuid("input_id", &request.input_id)?;
    let direction = Direction::from_wire(request.direction)?;
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (on, phase) = reactable(&txn, caller, id, now).await?;
    let (input, known) = (on.input, on.participant);
    if direction == Direction::Down && !phase.dislikes {
        return Err(Error::FailedPrecondition(
            "this phase takes no dislikes: only UP reactions".to_owned(),
        ));
    }
    let me = caller.principal()?.subject.clone();
    let status_before = input.status.clone();
    let inserted = reactions::Entity::insert(reactions::ActiveModel {
        input_id: Set(id),
        user_id: Set(me.clone()),
        direction: Set(direction.name().to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([reactions::Column::InputId, reactions::Column::UserId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let input = if inserted > 0 {
        counters::participant_where_unknown(&txn, input.project_id, input.phase_id, &me, known)
            .await?;
        changed(state, &txn, input, &[(direction, 1)], 1, now).await?
    } else {
        // The reaction exists: switch it only if it points the other way
        // (conditional, so concurrent switches move the counts once).
        let switched = reactions::Entity::update_many()
            .col_expr(reactions::Column::Direction, Expr::value(direction.name()))
            .col_expr(reactions::Column::CreatedAt, Expr::value(now))
            .filter(reactions::Column::InputId.eq(id))
            .filter(reactions::Column::UserId.eq(me.as_str()))
            .filter(reactions::Column::Direction.eq(direction.other().name()))
            .exec(&txn)
            .await?;
        if switched.rows_affected == 0 {
            // The same reaction again: nothing changes, but the counts are
            // read again, after the statements above waited for any
            // concurrent reaction, so they include the caller's.
            let input = current(&txn, input).await?;
            drop(txn);
            return Ok(summary(&input, Some(direction)));
        }
        changed(
            state,
            &txn,
            input,
            &[(direction.other(), -1), (direction, 1)],
            0,
            now,
        )
        .await?
    };
    commit(state, txn, &status_before, &input).await?;
    Ok(summary(&input, Some(direction)))
}

pub async fn unreact(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UnreactRequest,
) -> Result<proto::ReactionSummary> {
    let id = parse_uuid("input_id", &request.input_id)?;
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let input = reactable(&txn, caller, id, now).await?.0.input;
    let me = caller.principal()?.subject.clone();
    for direction in [Direction::Up, Direction::Down] {
        // Conditional on the direction: the delete that removes the row
        // tells which count to take it from, once.
        let removed = reactions::Entity::delete_many()
            .filter(reactions::Column::InputId.eq(id))
            .filter(reactions::Column::UserId.eq(me.as_str()))
            .filter(reactions::Column::Direction.eq(direction.name()))
            .exec(&txn)
            .await?;
        if removed.rows_affected > 0 {
            let status_before = input.status.clone();
            let input = changed(state, &txn, input, &[(direction, -1)], -1, now).await?;
            commit(state, txn, &status_before, &input).await?;
            return Ok(summary(&input, None));
        }
    }
    let input = current(&txn, input).await?;
    drop(txn);
    Ok(summary(&input, None))
}

/// `input` as it is now, for an answer that changed nothing.
async fn current(txn: &DatabaseTransaction, input: inputs::Model) -> Result<inputs::Model> {
    Ok(inputs::Entity::find_by_id(input.id)
        .one(txn)
        .await?
        .unwrap_or(input))
}

// --- the coalescer -----------------------------------------------------------

/// Announces the bursts of reactions whose `window` has passed, until
/// `shutdown`. It looks a few times per window, at most every second, so
/// an event follows its window closely.
pub async fn run_coalescer(state: State, window: StdDuration, shutdown: CancellationToken) {
    let tick = (window / 5).clamp(StdDuration::from_millis(50), StdDuration::from_secs(1));
    loop {
        if let Err(error) = announce_due(&state, window).await {
            tracing::warn!(%error, "announcing reactions failed; retrying at the next tick");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
    }
}

/// One pass: every burst that started at least `window` ago is announced
/// with the input's counts as they are now. Returns how many were.
pub async fn announce_due(state: &State, window: StdDuration) -> Result<u64> {
    let window = chrono::Duration::from_std(window)
        .map_err(|_| Error::Internal("the reaction window is too long".to_owned()))?;
    let mut announced = 0;
    loop {
        let n = announce_batch(state, window).await?;
        announced += n;
        if n < BATCH {
            return Ok(announced);
        }
    }
}

async fn announce_batch(state: &State, window: chrono::Duration) -> Result<u64> {
    let now = state.clock.now();
    let cutoff = now - window;
    // Looked for before the write transaction: on SQLite an empty pass
    // then never takes the write lock.
    let due: Vec<Uuid> = inputs::Entity::find()
        .select_only()
        .column(inputs::Column::Id)
        .filter(inputs::Column::ReactionsSince.lte(cutoff))
        .order_by_asc(inputs::Column::ReactionsSince)
        .limit(BATCH)
        .into_tuple()
        .all(&state.db)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let counted = claim(&txn, &due, cutoff).await?;
    let changes: Vec<_> = counted
        .iter()
        .map(|input| {
            (
                input.id.to_string(),
                u64::try_from(input.version).unwrap_or(0),
                events::ReactionsChanged {
                    input_id: input.id.to_string(),
                    project_id: input.project_id.to_string(),
                    up: input.reactions_up,
                    down: input.reactions_down,
                    at: Some(timestamp(now)),
                },
            )
        })
        .collect();
    let announced = state
        .outbox
        .record_all(
            &txn,
            "contributions.reactions.changed.v1",
            "input",
            now,
            changes,
        )
        .await?
        .len() as u64;
    state.outbox.commit(txn).await?;
    // A full batch, claimed or not, means more may be due.
    Ok(if due.len() as u64 == BATCH {
        BATCH
    } else {
        announced
    })
}

/// Claims the bursts of the `due` inputs whose window closed by `cutoff`
/// and returns those inputs with their counts as the claim left them: a
/// replica that got to a burst first left no mark to clear. One statement
/// where the database returns what it updated (PostgreSQL), input by input
/// where it cannot.
async fn claim(
    txn: &DatabaseTransaction,
    due: &[Uuid],
    cutoff: DateTime<Utc>,
) -> Result<Vec<inputs::Model>> {
    let of = |ids: Vec<Uuid>| {
        inputs::Entity::update_many()
            .col_expr(
                inputs::Column::ReactionsSince,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(inputs::Column::Id.is_in(ids))
            .filter(inputs::Column::ReactionsSince.lte(cutoff))
    };
    if txn.support_returning() {
        return Ok(of(due.to_vec()).exec_with_returning(txn).await?);
    }
    let mut claimed = Vec::new();
    for &id in due {
        if of(vec![id]).exec(txn).await?.rows_affected > 0 {
            claimed.push(id);
        }
    }
    Ok(inputs::Entity::find()
        .filter(inputs::Column::Id.is_in(claimed))
        .all(txn)
        .await?)
}
