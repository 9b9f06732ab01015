//! A person's rights over what they contributed: when identity deletes an
//! account, their contributions are anonymised (kept, with the name gone
//! for good) or erased, as the platform's policy says; and anyone can
//! export what they contributed.

use inspraak_proto::contributions::v1 as proto;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, InputCount, Stat};
use crate::error::Result;
use crate::inputs::{self, to_proto};
use crate::state::State;
use crate::store::answers::{feedback, feedback_revisions, input_history};
use crate::store::discussion::{comments, reactions};
use crate::store::entities::{
    blocked_people, follows, input_topics, inputs as input_rows, participants,
};
use crate::store::moderation::reports;
use crate::wire::timestamp;

/// What happens to a deleted person's contributions (`ACCOUNT_DELETION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Inputs and comments stay, shown as anonymous; every trace of who
    /// wrote them is replaced by a pseudonym no one can link back.
    Anonymise,
    /// Inputs and comments are deleted and their text removed; reactions
    /// and votes stay, anonymised, so that results do not change.
    Erase,
}

impl std::str::FromStr for DeletionPolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "anonymise" | "anonymize" => Ok(Self::Anonymise),
            "erase" => Ok(Self::Erase),
            other => Err(format!("{other:?} is not anonymise or erase")),
        }
    }
}

/// Replaces `user` by a fresh pseudonym everywhere contributions keeps a
/// person's id, and applies `policy` to their inputs and comments.
pub async fn forget<C: ConnectionTrait>(
    db: &C,
    user: &str,
    policy: DeletionPolicy,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    // Random, not derived from the id: nothing leads back to the person.
    let pseudonym = format!("deleted:{}", Uuid::new_v4());
    let mine = input_rows::Entity::find()
        .filter(input_rows::Column::AuthorId.eq(user))
        .all(db)
        .await?;
    for input in &mine {
        if policy == DeletionPolicy::Erase && input.deleted_at.is_none() {
            inputs::uncount(db, input).await?;
            input_topics::Entity::delete_many()
                .filter(input_topics::Column::InputId.eq(input.id))
                .exec(db)
                .await?;
        }
    }
    let mut update = input_rows::Entity::update_many()
        .col_expr(input_rows::Column::AuthorId, Expr::value(pseudonym.clone()))
        .col_expr(input_rows::Column::Anonymous, Expr::value(true))
        .col_expr(input_rows::Column::RequestId, Expr::value(None::<String>));
    if policy == DeletionPolicy::Erase {
        update = update
            .col_expr(input_rows::Column::Title, Expr::value("—"))
            .col_expr(input_rows::Column::Body, Expr::value(""))
            .col_expr(
                input_rows::Column::Topics,
                Expr::value(serde_json::json!([])),
            )
            .col_expr(input_rows::Column::Latitude, Expr::value(None::<f64>))
            .col_expr(input_rows::Column::Longitude, Expr::value(None::<f64>));
        // Deleted now, unless deleted before (then it keeps its date).
        input_rows::Entity::update_many()
            .col_expr(input_rows::Column::DeletedAt, Expr::value(now))
            .filter(input_rows::Column::AuthorId.eq(user))
            .filter(input_rows::Column::DeletedAt.is_null())
            .exec(db)
            .await?;
    }
    update
        .filter(input_rows::Column::AuthorId.eq(user))
        .exec(db)
        .await?;

    if policy == DeletionPolicy::Erase {
        let theirs = comments::Entity::find()
            .filter(comments::Column::AuthorId.eq(user))
            .filter(comments::Column::DeletedAt.is_null())
            .filter(comments::Column::Internal.eq(false))
            .all(db)
            .await?;
        for comment in theirs {
            if let Some(input) = input_rows::Entity::find_by_id(comment.input_id)
                .one(db)
                .await?
            {
                counters::add(db, input.project_id, input.phase_id, Stat::Comments, -1).await?;
                counters::add_to_input(db, input.id, InputCount::Comments, -1).await?;
            }
        }
        comments::Entity::update_many()
            .col_expr(comments::Column::Body, Expr::value(""))
            .col_expr(comments::Column::DeletedAt, Expr::value(now))
            .filter(comments::Column::AuthorId.eq(user))
            .filter(comments::Column::DeletedAt.is_null())
            .exec(db)
            .await?;
    }
    comments::Entity::update_many()
        .col_expr(comments::Column::AuthorId, Expr::value(pseudonym.clone()))
        .col_expr(comments::Column::RequestId, Expr::value(None::<String>))
        .filter(comments::Column::AuthorId.eq(user))
        .exec(db)
        .await?;
    reactions::Entity::update_many()
        .col_expr(reactions::Column::UserId, Expr::value(pseudonym.clone()))
        .filter(reactions::Column::UserId.eq(user))
        .exec(db)
        .await?;
    participants::Entity::update_many()
        .col_expr(participants::Column::UserId, Expr::value(pseudonym.clone()))
        .filter(participants::Column::UserId.eq(user))
        .exec(db)
        .await?;
    reports::Entity::update_many()
        .col_expr(reports::Column::ReporterId, Expr::value(pseudonym.clone()))
        .filter(reports::Column::ReporterId.eq(user))
        .exec(db)
        .await?;
    input_history::Entity::update_many()
        .col_expr(
            input_history::Column::ActorId,
            Expr::value(pseudonym.clone()),
        )
        .filter(input_history::Column::ActorId.eq(user))
        .exec(db)
        .await?;
    feedback::Entity::update_many()
        .col_expr(feedback::Column::AuthorId, Expr::value(pseudonym.clone()))
        .filter(feedback::Column::AuthorId.eq(user))
        .exec(db)
        .await?;
    feedback_revisions::Entity::update_many()
        .col_expr(
            feedback_revisions::Column::AuthorId,
            Expr::value(pseudonym.clone()),
        )
        .filter(feedback_revisions::Column::AuthorId.eq(user))
        .exec(db)
        .await?;
    crate::voting::forget(db, user, &pseudonym).await?;
    follows::Entity::delete_many()
        .filter(follows::Column::UserId.eq(user))
        .exec(db)
        .await?;
    blocked_people::Entity::delete_by_id(user.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// Everything the caller contributed, for their own keeping.
pub async fn export(
    state: &State,
    caller: &Caller<'_>,
) -> Result<proto::ExportMyContributionsResponse> {
    let me = caller.principal()?.subject.clone();
    let now = state.clock.now();
    let db = &state.db;
    let inputs = input_rows::Entity::find()
        .filter(input_rows::Column::AuthorId.eq(&me))
        .filter(input_rows::Column::DeletedAt.is_null())
        .order_by_asc(input_rows::Column::Id)
        .all(db)
        .await?
        .iter()
        .map(|i| to_proto(i, caller, now))
        .collect();
    let comments = comments::Entity::find()
        .filter(comments::Column::AuthorId.eq(&me))
        .filter(comments::Column::DeletedAt.is_null())
        .order_by_asc(comments::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|c| proto::ExportedComment {
            id: c.id.to_string(),
            input_id: c.input_id.to_string(),
            parent_id: c.parent_id.map(|p| p.to_string()).unwrap_or_default(),
            body: c.body,
            created_at: Some(timestamp(c.created_at)),
        })
        .collect();
    let reactions = reactions::Entity::find()
        .filter(reactions::Column::UserId.eq(&me))
        .all(db)
        .await?
        .into_iter()
        .map(|r| proto::ExportedReaction {
            input_id: r.input_id.to_string(),
            direction: r.direction,
            created_at: Some(timestamp(r.created_at)),
        })
        .collect();
    let follows = follows::Entity::find()
        .filter(follows::Column::UserId.eq(&me))
        .all(db)
        .await?
        .into_iter()
        .map(|f| proto::ExportedFollow {
            target_type: f.target_type,
            target_id: f.target_id.to_string(),
            created_at: Some(timestamp(f.created_at)),
        })
        .collect();
    let reports = reports::Entity::find()
        .filter(reports::Column::ReporterId.eq(&me))
        .all(db)
        .await?
        .into_iter()
        .map(|r| proto::ExportedReport {
            target_type: r.target_type,
            target_id: r.target_id.to_string(),
            reason: r.reason,
            text: r.text,
            created_at: Some(timestamp(r.created_at)),
        })
        .collect();
    Ok(proto::ExportMyContributionsResponse {
        inputs,
        comments,
        reactions,
        follows,
        reports,
        baskets: crate::voting::export(db, &me).await?,
    })
}
