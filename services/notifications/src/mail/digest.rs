//! Digests: the items a person wants daily or weekly wait as deliveries in
//! the `digest` state until their time; then all that are due for that
//! person become one mail, grouped by project and input. Items of a
//! category turned off while they waited are cancelled, not sent. A digest
//! is made only from items, so it is never empty; its items are claimed by a
//! conditional update, so two replicas never make it twice.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::content::{Content, DigestItem};
use super::templates::{Lang, title};
use crate::category::{Category, Frequency};
use crate::fanout::{frequency, kind_of};
use crate::kind::Kind;
use crate::projections;
use crate::state::State;
use crate::store::entities::deliveries;

/// People handled per round.
const PEOPLE: u64 = 50;

/// Makes the digests that are due; returns how many.
pub async fn gather_due(state: &State) -> Result<usize, DbErr> {
    let now = state.clock.now();
    let people: Vec<String> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::UserId)
        .distinct()
        .filter(deliveries::Column::State.eq("digest"))
        .filter(deliveries::Column::DigestDueAt.lte(now))
        .limit(PEOPLE)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut made = 0;
    for user in people {
        if gather(state, &user).await? {
            made += 1;
        }
    }
    if made > 0 {
        state.signals.mail.notify_one();
    }
    Ok(made)
}

async fn gather(state: &State, user: &str) -> Result<bool, DbErr> {
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let items = deliveries::Entity::find()
        .filter(deliveries::Column::UserId.eq(user))
        .filter(deliveries::Column::State.eq("digest"))
        .filter(deliveries::Column::DigestDueAt.lte(now))
        .order_by_asc(deliveries::Column::Id)
        .all(&txn)
        .await?;
    if items.is_empty() {
        return Ok(false);
    }
    let ids: Vec<Uuid> = items.iter().map(|d| d.id).collect();
    let claimed = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::State, Expr::value("digested"))
        .filter(deliveries::Column::Id.is_in(ids.clone()))
        .filter(deliveries::Column::State.eq("digest"))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != ids.len() as u64 {
        // Another replica is making this digest.
        return Ok(false);
    }
    // What the person turned off while it waited is not sent.
    let off = turned_off(&txn, user, &items).await?;
    if !off.is_empty() {
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::State, Expr::value("cancelled"))
            .filter(deliveries::Column::Id.is_in(off.clone()))
            .exec(&txn)
            .await?;
    }
    let items: Vec<deliveries::Model> =
        items.into_iter().filter(|d| !off.contains(&d.id)).collect();
    let Some(first) = items.first() else {
        // Nothing left to tell: no empty digest.
        txn.commit().await?;
        return Ok(false);
    };
    let locale = items.last().map_or_else(String::new, |d| d.locale.clone());
    let lang = Lang::of(&locale);
    let content = Content {
        items: items
            .iter()
            .map(|d| {
                let content: Content =
                    serde_json::from_value(d.content.clone()).unwrap_or_default();
                DigestItem {
                    line: title(kind_of(d), lang, &content),
                    project: content.project,
                    input: content.input,
                }
            })
            .collect(),
        ..Content::default()
    };
    deliveries::Entity::insert(
        deliveries::Model {
            id: Uuid::now_v7(),
            // Keyed by its first item: made once, whoever makes it.
            event_id: format!("digest:{}", first.id),
            user_id: user.to_owned(),
            channel: "email".to_owned(),
            kind: Kind::Digest.name().to_owned(),
            category: "digest".to_owned(),
            content: serde_json::to_value(&content).unwrap_or_default(),
            address: None,
            locale,
            state: "pending".to_owned(),
            attempts: 0,
            next_attempt_at: now,
            leased_until: None,
            last_error: None,
            digest_due_at: None,
            project_id: None,
            input_id: None,
            created_at: now,
            sent_at: None,
            traceparent: inspraak_kit::telemetry::current_traceparent(),
        }
        .into_active_model(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The items of `user` whose category is now off.
async fn turned_off<C: ConnectionTrait>(
    db: &C,
    user: &str,
    items: &[deliveries::Model],
) -> Result<Vec<Uuid>, DbErr> {
    let roles = projections::person(db, user)
        .await?
        .map(|p| projections::roles(&p))
        .unwrap_or_default();
    let mut known: Vec<(Category, bool)> = Vec::new();
    let mut off = Vec::new();
    for item in items {
        let Some(category) = Category::from_name(&item.category) else {
            continue;
        };
        let is_off = match known.iter().find(|(c, _)| *c == category) {
            Some((_, is_off)) => *is_off,
            None => {
                let is_off = frequency(db, user, &roles, category).await? == Frequency::Off;
                known.push((category, is_off));
                is_off
            }
        };
        if is_off {
            off.push(item.id);
        }
    }
    Ok(off)
}
