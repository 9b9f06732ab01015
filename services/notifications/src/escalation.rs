//! Escalation: an input announced overdue goes to the project's managers at
//! once (routing); if it is still unanswered a further period later
//! (`ESCALATION_DELAY`), the core team — the platform admins — is told,
//! once, whichever replica sees it first.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::fanout::fan_out;
use crate::kind::Kind;
use crate::mail::content::Content;
use crate::projections;
use crate::routing::{Notice, Recipient};
use crate::state::State;
use crate::store::entities::overdue_inputs;

/// Remembers an input announced overdue.
pub async fn overdue<C: ConnectionTrait>(
    db: &C,
    input: Uuid,
    project: Uuid,
    title: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    overdue_inputs::Entity::insert(overdue_inputs::ActiveModel {
        input_id: Set(input),
        project_id: Set(project),
        title: Set(title.to_owned()),
        overdue_at: Set(at),
        answered_at: Set(None),
        escalated_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(overdue_inputs::Column::InputId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// An answer ends the wait.
pub async fn answered<C: ConnectionTrait>(
    db: &C,
    input: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    overdue_inputs::Entity::update_many()
        .col_expr(overdue_inputs::Column::AnsweredAt, Expr::value(at))
        .filter(overdue_inputs::Column::InputId.eq(input))
        .filter(overdue_inputs::Column::AnsweredAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn run(state: State, interval: StdDuration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = escalate_due(&state).await {
            tracing::warn!(%error, "escalating overdue input failed; retrying at the next tick");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Tells the core team of every input overdue for longer than the delay
/// and still unanswered; returns how many were escalated.
pub async fn escalate_due(state: &State) -> Result<u64, DbErr> {
    let now = state.clock.now();
    let delay = chrono::Duration::from_std(state.settings.escalation_delay)
        .unwrap_or(chrono::Duration::days(7));
    let due = overdue_inputs::Entity::find()
        .filter(overdue_inputs::Column::EscalatedAt.is_null())
        .filter(overdue_inputs::Column::AnsweredAt.is_null())
        .filter(overdue_inputs::Column::OverdueAt.lte(now - delay))
        .order_by_asc(overdue_inputs::Column::OverdueAt)
        .limit(100)
        .all(&state.db)
        .await?;
    let mut escalated = 0;
    for row in due {
        let txn = inspraak_kit::db::begin_write(&state.db).await?;
        let claimed = overdue_inputs::Entity::update_many()
            .col_expr(overdue_inputs::Column::EscalatedAt, Expr::value(now))
            .filter(overdue_inputs::Column::InputId.eq(row.input_id))
            .filter(overdue_inputs::Column::EscalatedAt.is_null())
            .filter(overdue_inputs::Column::AnsweredAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        let admins: Vec<String> = projections::holding(&txn, "platform_admin")
            .await?
            .into_iter()
            .map(|p| p.user_id)
            .collect();
        let notices = admins
            .into_iter()
            .map(|admin| Notice {
                kind: Kind::InputOverdueEscalated,
                recipient: Recipient::Person(admin),
                content: Content {
                    input: row.title.clone(),
                    ..Content::default()
                },
                localized_input: Vec::new(),
                localized_status: Vec::new(),
                localized_excerpt: Vec::new(),
                project_id: Some(row.project_id),
                input_id: Some(row.input_id),
            })
            .collect();
        let written = fan_out(
            &txn,
            &format!("escalation:{}", row.input_id),
            notices,
            now,
            state.settings.digest_hour,
        )
        .await?;
        txn.commit().await?;
        if written.mail_due {
            state.signals.mail.notify_one();
        }
        for user in written.inboxes {
            let _ = state.signals.inbox.send(user);
        }
        escalated += 1;
    }
    Ok(escalated)
}
