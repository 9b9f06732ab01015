//! The sender: takes due deliveries, renders them in the recipient's
//! locale and sends them. A delivery is leased while it is sent, so two
//! replicas never send the same one; a failure is retried with a doubling
//! back-off, and after the last attempt (or at once for a permanent
//! refusal) it is failed with its reason for the admins to see.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::content::Content;
use super::templates::{Lang, render};
use super::transport::{Outgoing, SendError, Transport};
use super::unsubscribe;
use crate::category::{Category, Frequency};
use crate::fanout::{frequency, kind_of};
use crate::kind::Kind;
use crate::projections;
use crate::state::State;
use crate::store::entities::deliveries;

/// Deliveries taken per round.
const BATCH: u64 = 20;
/// How long a sender holds a delivery: far above any SMTP timeout.
const LEASE: Duration = Duration::minutes(5);

pub async fn run(state: State, transport: Transport, shutdown: CancellationToken) {
    loop {
        loop {
            match send_due(&state, &transport).await {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "sending mail failed; retrying at the next tick");
                    break;
                }
            }
        }
        if let Err(error) = super::digest::gather_due(&state).await {
            tracing::warn!(%error, "gathering digests failed; retrying at the next tick");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = state.signals.mail.notified() => {}
            () = tokio::time::sleep(state.settings.poll_interval) => {}
        }
    }
}

/// The back-off after `attempts` failed attempts.
pub fn back_off(base: StdDuration, max: StdDuration, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts.saturating_sub(1)).unwrap_or(0));
    let delay = base.saturating_mul(factor).min(max);
    Duration::from_std(delay).unwrap_or(Duration::hours(1))
}

/// Takes up to a batch of due deliveries and sends them; returns how many
/// were taken.
pub async fn send_due(state: &State, transport: &Transport) -> Result<usize, DbErr> {
    let now = state.clock.now();
    let due = deliveries::Entity::find()
        .filter(deliveries::Column::State.is_in(["pending", "retrying"]))
        .filter(deliveries::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(deliveries::Column::LeasedUntil.is_null())
                .add(deliveries::Column::LeasedUntil.lt(now)),
        )
        .order_by_asc(deliveries::Column::NextAttemptAt)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut taken = 0;
    for delivery in due {
        // The lease: a conditional update on what was read; another sender
        // that got there first leaves no row to update.
        let leased = deliveries::Entity::update_many()
            .col_expr(deliveries::Column::LeasedUntil, Expr::value(now + LEASE))
            .filter(deliveries::Column::Id.eq(delivery.id))
            .filter(deliveries::Column::State.eq(delivery.state.clone()))
            .filter(match delivery.leased_until {
                Some(at) => deliveries::Column::LeasedUntil.eq(at),
                None => deliveries::Column::LeasedUntil.is_null(),
            })
            .exec(&state.db)
            .await?;
        if leased.rows_affected == 0 {
            continue;
        }
        taken += 1;
        let span = tracing::info_span!(
            "email.deliver",
            otel.name = "email deliver",
            otel.kind = "client",
            delivery.id = %delivery.id,
            delivery.kind = %delivery.kind,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        inspraak_kit::telemetry::continue_trace(&span, &delivery.traceparent);
        inspraak_kit::telemetry::record_trace_ids(&span);
        let outcome = send_one(state, transport, &delivery).instrument(span).await;
        let attempts = delivery.attempts + 1;
        let counted = match &outcome {
            Outcome::Sent => Outcome::Sent,
            Outcome::Cancelled => Outcome::Cancelled,
            Outcome::Failed(e) => Outcome::Failed(e.clone()),
        };
        settle(state, &delivery, outcome, now).await?;
        count(&counted, attempts, state.settings.max_attempts);
    }
    Ok(taken)
}

/// What happened to one delivery.
enum Outcome {
    Sent,
    /// Nothing to send any more (the person was erased, or turned the
    /// category off).
    Cancelled,
    Failed(SendError),
}

async fn send_one(state: &State, transport: &Transport, delivery: &deliveries::Model) -> Outcome {
    let address = match &delivery.address {
        Some(address) => address.clone(),
        None => match projections::person(&state.db, &delivery.user_id).await {
            Ok(Some(person)) => person.email,
            Ok(None) => return Outcome::Cancelled,
            Err(e) => return Outcome::Failed(SendError::Transient(e.to_string())),
        },
    };
    let content: Content = serde_json::from_value(delivery.content.clone()).unwrap_or_default();
    let kind = kind_of(delivery);
    let category = Category::from_name(&delivery.category).unwrap_or(Category::Transactional);
    // A category turned off while its mail waited (for the server, or for
    // a retry) is not sent any more.
    if kind != Kind::Digest && category != Category::Transactional {
        match turned_off(state, &delivery.user_id, category).await {
            Ok(true) => return Outcome::Cancelled,
            Ok(false) => {}
            Err(e) => return Outcome::Failed(SendError::Transient(e.to_string())),
        }
    }
    let unsubscribe_category = match (kind, category) {
        (Kind::Digest, _) => Some(unsubscribe::DIGESTS),
        (_, Category::Transactional) => None,
        (_, category) => Some(category.name()),
    };
    let link = match unsubscribe_category {
        Some(category) => match unsubscribe::token(&state.db, &delivery.user_id, category).await {
            Ok(token) => Some(format!(
                "{}/unsubscribe?token={token}",
                state.settings.public_url
            )),
            Err(e) => return Outcome::Failed(SendError::Transient(e.to_string())),
        },
        None => None,
    };
    let rendered = render(kind, Lang::of(&delivery.locale), &content, link.as_deref());
    let outgoing = Outgoing {
        to: &address,
        rendered: &rendered,
        message_id: format!("<{}@inspraak>", delivery.id),
        unsubscribe: link.as_deref(),
    };
    match transport.send(&state.settings.from, &outgoing).await {
        Ok(()) => Outcome::Sent,
        Err(error) => Outcome::Failed(error),
    }
}

async fn turned_off(state: &State, user: &str, category: Category) -> Result<bool, DbErr> {
    let roles = projections::person(&state.db, user)
        .await?
        .map(|p| projections::roles(&p))
        .unwrap_or_default();
    Ok(frequency(&state.db, user, &roles, category).await? == Frequency::Off)
}

async fn settle(
    state: &State,
    delivery: &deliveries::Model,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let settings = &state.settings;
    let attempts = delivery.attempts + 1;
    let update = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::LeasedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
        .filter(deliveries::Column::Id.eq(delivery.id));
    let update = match outcome {
        Outcome::Sent => update
            .col_expr(deliveries::Column::State, Expr::value("sent"))
            .col_expr(deliveries::Column::SentAt, Expr::value(state.clock.now()))
            .col_expr(deliveries::Column::LastError, Expr::value(None::<String>)),
        Outcome::Cancelled => update.col_expr(deliveries::Column::State, Expr::value("cancelled")),
        Outcome::Failed(SendError::Transient(why)) if attempts < settings.max_attempts => {
            tracing::info!(delivery = %delivery.id, attempts, error = %why, "mail not sent; will retry");
            update
                .col_expr(deliveries::Column::State, Expr::value("retrying"))
                .col_expr(deliveries::Column::LastError, Expr::value(why))
                .col_expr(
                    deliveries::Column::NextAttemptAt,
                    Expr::value(now + back_off(settings.retry_base, settings.retry_max, attempts)),
                )
        }
        Outcome::Failed(SendError::Transient(why) | SendError::Permanent(why)) => {
            tracing::warn!(delivery = %delivery.id, attempts, error = %why, "mail failed for good");
            update
                .col_expr(deliveries::Column::State, Expr::value("failed"))
                .col_expr(deliveries::Column::LastError, Expr::value(why))
        }
    };
    update.exec(&state.db).await?;
    Ok(())
}

/// Counts what settled, once its state is written.
fn count(outcome: &Outcome, attempts: i32, max: i32) {
    match outcome {
        Outcome::Sent => crate::metrics::sent("email", 1),
        Outcome::Failed(SendError::Transient(_)) if attempts < max => {}
        Outcome::Failed(_) => crate::metrics::failed("email"),
        Outcome::Cancelled => {}
    }
}

#[cfg(test)]
mod tests {
    use super::back_off;
    use std::time::Duration;

    #[test]
    fn the_back_off_doubles_up_to_its_maximum() {
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(600);
        let secs = |n| back_off(base, max, n).num_seconds();
        assert_eq!(
            (secs(1), secs(2), secs(3), secs(5), secs(9)),
            (30, 60, 120, 480, 600)
        );
    }
}
