//! Voting: input costs, each person's basket per voting phase, and the
//! results. A basket is filled within the phase's limits and submitted once;
//! submitting counts its votes into per-(phase, input) tallies, so results
//! never scan baskets.
//!
//! Every edit of a basket first takes its row's lock (a conditional update
//! of its version), then reads its totals and checks the limits: concurrent
//! edits of one basket queue on that lock under READ COMMITTED, and SQLite
//! serialises writers at BEGIN IMMEDIATE.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, InputCount, Stat};
use crate::error::{Error, Result};
use crate::inputs::{self, to_proto, visible};
use crate::state::State;
use crate::store::entities::{inputs as input_rows, projected_phases, projected_projects};
use crate::store::voting::{basket_items, baskets, vote_tallies};
use crate::wire::{parse_uuid, timestamp};

/// The most an input may cost: 10^12 cents (ten billion in whole units),
/// far below where sums of a basket's costs could overflow.
const MAX_COST: i64 = 1_000_000_000_000;

// --- the phase's rules -------------------------------------------------------

/// How a voting phase lets people vote, with its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Multiple { max_votes: i64 },
    Budget { total_budget: i64 },
}

impl Kind {
    fn of(phase: &projected_phases::Model) -> Self {
        match phase.vote_kind.as_str() {
            "multiple" => Self::Multiple {
                max_votes: phase.max_votes,
            },
            "budget" => Self::Budget {
                total_budget: phase.total_budget,
            },
            // The projection reads an unset kind as single voting.
            _ => Self::Single,
        }
    }

    fn wire(self) -> proto::VoteKind {
        match self {
            Self::Single => proto::VoteKind::Single,
            Self::Multiple { .. } => proto::VoteKind::Multiple,
            Self::Budget { .. } => proto::VoteKind::Budget,
        }
    }

    /// Refuses, naming the limit, a basket of `count` items costing `cost`
    /// in all.
    fn ensure_fits(self, count: i64, cost: i64) -> Result<()> {
        let refuse = |why: String| Err(Error::FailedPrecondition(why));
        match self {
            Self::Single if count > 1 => refuse(
                "single voting takes one input: remove the one in your basket first".to_owned(),
            ),
            Self::Multiple { max_votes } if count > max_votes => refuse(format!(
                "this phase takes at most {max_votes} inputs per basket (max_votes)"
            )),
            Self::Budget { total_budget } if cost > total_budget => refuse(format!(
                "the basket would cost {cost} cents, over the phase's budget of \
                 {total_budget} cents (total_budget)"
            )),
            _ => Ok(()),
        }
    }
}

/// The voting phase `id` with its project, if the caller may see the
/// project: NOT_FOUND otherwise (a hidden project's phases are not
/// revealed), FAILED_PRECONDITION when the phase holds no vote.
async fn voting_phase<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    id: Uuid,
) -> Result<(projected_phases::Model, projected_projects::Model)> {
    let phase = projected_phases::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("phase"))?;
    let project = caller
        .visible_project(db, phase.project_id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound("phase"),
            other => other,
        })?;
    if phase.method != "voting" {
        return Err(Error::FailedPrecondition(format!(
            "the phase's method ({}) holds no vote",
            phase.method
        )));
    }
    Ok((phase, project))
}

/// Refuses, naming the condition, unless the caller may change their basket
/// in `phase` at `now`.
async fn ensure_may_vote<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    phase: &projected_phases::Model,
    project: &projected_projects::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    caller.principal()?;
    let refuse = |why: &str| Err(Error::FailedPrecondition(why.to_owned()));
    if project.state != "published" {
        return refuse("the project is not published");
    }
    if now < phase.starts_at {
        return refuse("the voting phase has not started");
    }
    if phase.ends_at.is_some_and(|end| now >= end) {
        return refuse("the voting phase has ended");
    }
    caller
        .ensure_permitted(db, phase.project_id, &phase.vote, "voting")
        .await?;
    caller.ensure_may_contribute(db, now).await
}

/// The input `id` if it may receive votes in `phase`: one of the phase's
/// project, visible to the caller, neither deleted nor hidden.
async fn votable<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    phase: &projected_phases::Model,
    id: Uuid,
) -> Result<input_rows::Model> {
    let input = visible(db, caller, id).await?;
    if input.project_id != phase.project_id {
        return Err(Error::invalid(
            "input_id",
            "is not an input of the phase's project",
        ));
    }
    if input.hidden_at.is_some() {
        return Err(Error::FailedPrecondition(
            "the input is hidden: it cannot receive votes".to_owned(),
        ));
    }
    Ok(input)
}

// --- baskets -------------------------------------------------------------------

async fn find_basket<C: ConnectionTrait>(
    db: &C,
    phase: Uuid,
    voter: &str,
) -> Result<Option<baskets::Model>> {
    Ok(baskets::Entity::find()
        .filter(baskets::Column::PhaseId.eq(phase))
        .filter(baskets::Column::VoterId.eq(voter))
        .one(db)
        .await?)
}

/// The voter's basket in `phase`, created empty on first use. Creation
/// races end on the unique (phase, voter) key: the loser finds the winner's.
async fn basket<C: ConnectionTrait>(
    db: &C,
    phase: &projected_phases::Model,
    voter: &str,
    now: DateTime<Utc>,
) -> Result<baskets::Model> {
    if let Some(found) = find_basket(db, phase.id, voter).await? {
        return Ok(found);
    }
    baskets::Entity::insert(baskets::ActiveModel {
        id: Set(Uuid::now_v7()),
        phase_id: Set(phase.id),
        project_id: Set(phase.project_id),
        voter_id: Set(voter.to_owned()),
        total_cost: Set(0),
        item_count: Set(0),
        created_at: Set(now),
        submitted_at: Set(None),
        version: Set(0),
    })
    .on_conflict(
        OnConflict::columns([baskets::Column::PhaseId, baskets::Column::VoterId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    find_basket(db, phase.id, voter)
        .await?
        .ok_or_else(|| Error::Internal("a basket vanished as it was created".to_owned()))
}

/// Takes the basket's row lock for an edit, refusing a submitted basket,
/// and returns the basket as it is once the lock is held: a later statement
/// of a READ COMMITTED transaction sees what earlier edits committed.
async fn lock_for_edit<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<baskets::Model> {
    let locked = baskets::Entity::update_many()
        .col_expr(
            baskets::Column::Version,
            Expr::col(baskets::Column::Version).add(1),
        )
        .filter(baskets::Column::Id.eq(id))
        .filter(baskets::Column::SubmittedAt.is_null())
        .exec(db)
        .await?;
    if locked.rows_affected == 0 {
        return Err(Error::FailedPrecondition(
            "the basket was submitted: it no longer changes".to_owned(),
        ));
    }
    baskets::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal("a locked basket vanished".to_owned()))
}

/// Moves the basket's totals by one item of `cost`, `sign` 1 or -1.
async fn move_totals<C: ConnectionTrait>(db: &C, id: Uuid, cost: i64, sign: i64) -> Result<()> {
    baskets::Entity::update_many()
        .col_expr(
            baskets::Column::TotalCost,
            Expr::col(baskets::Column::TotalCost).add(sign * cost),
        )
        .col_expr(
            baskets::Column::ItemCount,
            Expr::col(baskets::Column::ItemCount).add(sign),
        )
        .filter(baskets::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

async fn items<C: ConnectionTrait>(db: &C, basket: Uuid) -> Result<Vec<basket_items::Model>> {
    Ok(basket_items::Entity::find()
        .filter(basket_items::Column::BasketId.eq(basket))
        .order_by_asc(basket_items::Column::AddedAt)
        .order_by_asc(basket_items::Column::InputId)
        .all(db)
        .await?)
}

/// The inputs `ids`, by id, in one query.
async fn inputs_by_id<C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, input_rows::Model>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(input_rows::Entity::find()
        .filter(input_rows::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|input| (input.id, input))
        .collect())
}

/// The basket as its voter reads it: its items with their inputs' titles.
async fn basket_proto<C: ConnectionTrait>(
    db: &C,
    phase: &projected_phases::Model,
    basket: &baskets::Model,
) -> Result<proto::Basket> {
    let items = items(db, basket.id).await?;
    let titles = inputs_by_id(db, items.iter().map(|i| i.input_id)).await?;
    let kind = Kind::of(phase);
    Ok(proto::Basket {
        id: basket.id.to_string(),
        project_id: basket.project_id.to_string(),
        phase_id: basket.phase_id.to_string(),
        kind: kind.wire() as i32,
        max_votes: match kind {
            Kind::Single => 1,
            Kind::Multiple { max_votes } => max_votes,
            Kind::Budget { .. } => 0,
        },
        total_budget: match kind {
            Kind::Budget { total_budget } => total_budget,
            _ => 0,
        },
        items: items
            .iter()
            .map(|item| proto::BasketItem {
                input_id: item.input_id.to_string(),
                title: titles
                    .get(&item.input_id)
                    .map(|i| i.title.clone())
                    .unwrap_or_default(),
                cost: item.cost,
                added_at: Some(timestamp(item.added_at)),
            })
            .collect(),
        total_cost: basket.total_cost,
        submitted: basket.submitted_at.is_some(),
        submitted_at: basket.submitted_at.map(timestamp),
    })
}

/// The phase and input a basket edit names, both checked.
fn item_ids(request: &proto::BasketItemRequest) -> Result<(Uuid, Uuid)> {
    let mut v = Vec::new();
    let phase = Uuid::parse_str(request.phase_id.trim())
        .map_err(|_| v.push(FieldViolation::new("phase_id", "is not an id")));
    let input = Uuid::parse_str(request.input_id.trim())
        .map_err(|_| v.push(FieldViolation::new("input_id", "is not an id")));
    match (phase, input) {
        (Ok(phase), Ok(input)) => Ok((phase, input)),
        _ => Err(Error::Invalid(v)),
    }
}

// --- the acts ------------------------------------------------------------------

pub async fn set_input_cost(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::SetInputCostRequest,
) -> Result<proto::Input> {
    let mut v = Vec::new();
    let id = Uuid::parse_str(request.input_id.trim())
        .map_err(|_| v.push(FieldViolation::new("input_id", "is not an id")));
    if !(0..=MAX_COST).contains(&request.cost) {
        v.push(FieldViolation::new(
            "cost",
            format!("must be 0 to {MAX_COST} cents"),
        ));
    }
    let (Ok(id), true) = (id, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    caller.principal()?;
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut input = visible(&txn, caller, id).await?;
    if !caller.is_manager(&txn, input.project_id).await? {
        return Err(Error::PermissionDenied(
            "only the project's managers and platform admins set costs".to_owned(),
        ));
    }
    // Voters chose within the budget by the costs they saw: once a budget
    // vote has started, the costs stay.
    let started = projected_phases::Entity::find()
        .filter(projected_phases::Column::ProjectId.eq(input.project_id))
        .filter(projected_phases::Column::Method.eq("voting"))
        .filter(projected_phases::Column::VoteKind.eq("budget"))
        .filter(projected_phases::Column::StartsAt.lte(now))
        .one(&txn)
        .await?;
    if started.is_some() {
        return Err(Error::FailedPrecondition(
            "a budget vote of this project has started: its inputs' costs no longer change"
                .to_owned(),
        ));
    }
    input.cost = request.cost;
    let input = inputs::save(state, &txn, input).await?;
    txn.commit().await?;
    Ok(to_proto(&input, caller, now))
}

pub async fn get_basket(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::GetBasketRequest,
) -> Result<proto::Basket> {
    let phase_id = parse_uuid("phase_id", &request.phase_id)?;
    let voter = caller.principal()?.subject.clone();
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (phase, _) = voting_phase(&txn, caller, phase_id).await?;
    let basket = basket(&txn, &phase, &voter, now).await?;
    let out = basket_proto(&txn, &phase, &basket).await?;
    txn.commit().await?;
    Ok(out)
}

pub async fn add_to_basket(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::BasketItemRequest,
) -> Result<proto::Basket> {
    let (phase_id, input_id) = item_ids(request)?;
    let voter = caller.principal()?.subject.clone();
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (phase, project) = voting_phase(&txn, caller, phase_id).await?;
    ensure_may_vote(&txn, caller, &phase, &project, now).await?;
    let input = votable(&txn, caller, &phase, input_id).await?;
    let created = basket(&txn, &phase, &voter, now).await?;
    let basket = lock_for_edit(&txn, created.id).await?;
    let present = basket_items::Entity::find_by_id((basket.id, input.id))
        .one(&txn)
        .await?;
    if present.is_some() {
        // Already there: nothing changes, not even the version the lock
        // moved.
        let out = basket_proto(&txn, &phase, &basket).await?;
        txn.rollback().await?;
        return Ok(out);
    }
    Kind::of(&phase).ensure_fits(
        basket.item_count + 1,
        basket.total_cost.saturating_add(input.cost),
    )?;
    basket_items::Entity::insert(basket_items::ActiveModel {
        basket_id: Set(basket.id),
        input_id: Set(input.id),
        cost: Set(input.cost),
        added_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    move_totals(&txn, basket.id, input.cost, 1).await?;
    let basket = baskets::Model {
        total_cost: basket.total_cost + input.cost,
        item_count: basket.item_count + 1,
        ..basket
    };
    let out = basket_proto(&txn, &phase, &basket).await?;
    txn.commit().await?;
    Ok(out)
}

pub async fn remove_from_basket(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::BasketItemRequest,
) -> Result<proto::Basket> {
    let (phase_id, input_id) = item_ids(request)?;
    let voter = caller.principal()?.subject.clone();
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (phase, project) = voting_phase(&txn, caller, phase_id).await?;
    ensure_may_vote(&txn, caller, &phase, &project, now).await?;
    let created = basket(&txn, &phase, &voter, now).await?;
    let basket = lock_for_edit(&txn, created.id).await?;
    // No visibility check on the input: one withdrawn or hidden since it
    // was added must still leave the basket.
    let Some(item) = basket_items::Entity::find_by_id((basket.id, input_id))
        .one(&txn)
        .await?
    else {
        let out = basket_proto(&txn, &phase, &basket).await?;
        txn.rollback().await?;
        return Ok(out);
    };
    basket_items::Entity::delete_by_id((basket.id, input_id))
        .exec(&txn)
        .await?;
    move_totals(&txn, basket.id, item.cost, -1).await?;
    let basket = baskets::Model {
        total_cost: basket.total_cost - item.cost,
        item_count: basket.item_count - 1,
        ..basket
    };
    let out = basket_proto(&txn, &phase, &basket).await?;
    txn.commit().await?;
    Ok(out)
}

/// Adds `votes` to the tally of `input` in `phase` (the nil input: the
/// phase's submitted baskets).
async fn tally<C: ConnectionTrait>(
    db: &C,
    phase: &projected_phases::Model,
    input: Uuid,
    votes: i64,
) -> Result<()> {
    vote_tallies::Entity::insert(vote_tallies::ActiveModel {
        phase_id: Set(phase.id),
        input_id: Set(input),
        project_id: Set(phase.project_id),
        votes: Set(0),
    })
    .on_conflict(
        OnConflict::columns([vote_tallies::Column::PhaseId, vote_tallies::Column::InputId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    vote_tallies::Entity::update_many()
        .col_expr(
            vote_tallies::Column::Votes,
            Expr::col(vote_tallies::Column::Votes).add(votes),
        )
        .filter(vote_tallies::Column::PhaseId.eq(phase.id))
        .filter(vote_tallies::Column::InputId.eq(input))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn submit_basket(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::SubmitBasketRequest,
) -> Result<proto::Basket> {
    let phase_id = parse_uuid("phase_id", &request.phase_id)?;
    let voter = caller.principal()?.subject.clone();
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (phase, project) = voting_phase(&txn, caller, phase_id).await?;
    ensure_may_vote(&txn, caller, &phase, &project, now).await?;
    let created = basket(&txn, &phase, &voter, now).await?;
    let basket = lock_for_edit(&txn, created.id).await?;
    if basket.item_count == 0 {
        return Err(Error::FailedPrecondition(
            "the basket is empty: add at least one input before submitting".to_owned(),
        ));
    }
    let mut chosen = items(&txn, basket.id).await?;
    let inputs = inputs_by_id(&txn, chosen.iter().map(|i| i.input_id)).await?;
    let gone: Vec<String> = chosen
        .iter()
        .filter(|item| {
            inputs
                .get(&item.input_id)
                .is_none_or(|i| i.deleted_at.is_some() || i.hidden_at.is_some())
        })
        .map(|item| item.input_id.to_string())
        .collect();
    if !gone.is_empty() {
        return Err(Error::FailedPrecondition(format!(
            "inputs in the basket were withdrawn or hidden since: remove {} first",
            gone.join(", ")
        )));
    }
    baskets::Entity::update_many()
        .col_expr(baskets::Column::SubmittedAt, Expr::value(Some(now)))
        .filter(baskets::Column::Id.eq(basket.id))
        .exec(&txn)
        .await?;
    // Rows are taken in one order by every submitter (inputs by id, then
    // tallies by id, then statistics), so concurrent submits queue and never
    // deadlock.
    chosen.sort_by_key(|item| item.input_id);
    for item in &chosen {
        counters::add_to_input(&txn, item.input_id, InputCount::Votes, 1).await?;
    }
    tally(&txn, &phase, Uuid::nil(), 1).await?;
    for item in &chosen {
        tally(&txn, &phase, item.input_id, 1).await?;
    }
    counters::add(
        &txn,
        phase.project_id,
        phase.id,
        Stat::Votes,
        basket.item_count,
    )
    .await?;
    counters::participant(&txn, phase.project_id, phase.id, &voter).await?;
    state
        .publish(
            &txn,
            "contributions.basket.submitted.v1",
            "basket",
            basket.id,
            basket.version,
            &events::BasketSubmitted {
                basket_id: basket.id.to_string(),
                project_id: phase.project_id.to_string(),
                phase_id: phase.id.to_string(),
                voter_id: voter.clone(),
                input_ids: chosen.iter().map(|i| i.input_id.to_string()).collect(),
                total_cost: basket.total_cost,
                at: Some(timestamp(now)),
            },
        )
        .await?;
    let basket = baskets::Model {
        submitted_at: Some(now),
        ..basket
    };
    let out = basket_proto(&txn, &phase, &basket).await?;
    state.outbox.commit(txn).await?;
    Ok(out)
}

pub async fn results(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::GetResultsRequest,
) -> Result<proto::GetResultsResponse> {
    let phase_id = parse_uuid("phase_id", &request.phase_id)?;
    let db = &state.db;
    let (phase, _) = voting_phase(db, caller, phase_id).await?;
    let ended = phase.ends_at.is_some_and(|end| state.clock.now() >= end);
    let staff = caller.is_manager(db, phase.project_id).await?;
    if !ended && !staff {
        return Err(Error::FailedPrecondition(
            "the results are published when the voting phase has ended".to_owned(),
        ));
    }
    let tallies = vote_tallies::Entity::find()
        .filter(vote_tallies::Column::PhaseId.eq(phase.id))
        .order_by_desc(vote_tallies::Column::Votes)
        .order_by_asc(vote_tallies::Column::InputId)
        .all(db)
        .await?;
    let ballots = tallies
        .iter()
        .find(|t| t.input_id.is_nil())
        .map_or(0, |t| t.votes);
    let inputs = inputs_by_id(
        db,
        tallies
            .iter()
            .filter(|t| !t.input_id.is_nil())
            .map(|t| t.input_id),
    )
    .await?;
    // Votes stay counted, but an input withdrawn or hidden since is shown
    // to staff only.
    let results = tallies
        .iter()
        .filter_map(|t| {
            let input = inputs.get(&t.input_id)?;
            let shown = staff || (input.deleted_at.is_none() && input.hidden_at.is_none());
            shown.then(|| proto::InputResult {
                input_id: input.id.to_string(),
                title: input.title.clone(),
                votes: t.votes,
                cost: input.cost,
            })
        })
        .collect();
    Ok(proto::GetResultsResponse {
        phase_id: phase.id.to_string(),
        kind: Kind::of(&phase).wire() as i32,
        results,
        ballots,
        r#final: ended,
    })
}

// --- a person's rights ------------------------------------------------------

/// Replaces `user` by `pseudonym` on their baskets: votes stay counted,
/// nothing leads back to the person.
pub async fn forget<C: ConnectionTrait>(db: &C, user: &str, pseudonym: &str) -> Result<()> {
    baskets::Entity::update_many()
        .col_expr(baskets::Column::VoterId, Expr::value(pseudonym.to_owned()))
        .filter(baskets::Column::VoterId.eq(user))
        .exec(db)
        .await?;
    Ok(())
}

/// The baskets of `user`, for their export.
pub async fn export<C: ConnectionTrait>(db: &C, user: &str) -> Result<Vec<proto::ExportedBasket>> {
    let mut out = Vec::new();
    for basket in baskets::Entity::find()
        .filter(baskets::Column::VoterId.eq(user))
        .all(db)
        .await?
    {
        let input_ids = basket_items::Entity::find()
            .filter(basket_items::Column::BasketId.eq(basket.id))
            .all(db)
            .await?
            .into_iter()
            .map(|item| item.input_id.to_string())
            .collect();
        out.push(proto::ExportedBasket {
            phase_id: basket.phase_id.to_string(),
            input_ids,
            submitted_at: basket.submitted_at.map(timestamp),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn single_voting_takes_one_input() {
        assert!(Kind::Single.ensure_fits(1, 0).is_ok());
        assert!(Kind::Single.ensure_fits(2, 0).is_err());
    }

    #[test]
    fn multiple_voting_takes_at_most_max_votes() {
        let kind = Kind::Multiple { max_votes: 3 };
        assert!(kind.ensure_fits(3, 0).is_ok());
        assert!(kind.ensure_fits(4, 0).is_err());
    }

    #[test]
    fn budget_voting_takes_up_to_the_budget_exactly() {
        let kind = Kind::Budget { total_budget: 100 };
        assert!(kind.ensure_fits(7, 100).is_ok());
        assert!(kind.ensure_fits(1, 101).is_err());
    }
}
