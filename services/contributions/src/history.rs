//! An input's history: every act on it, with who and when, written in the
//! transaction of the act.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use crate::error::Result;
use crate::status::Status;
use crate::store::answers::input_history;

/// What happened to an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Created,
    Edited,
    StatusChanged { from: Status, to: Status },
    FeedbackPublished(Uuid),
    FeedbackEdited(Uuid),
    Hidden,
    Restored,
    Deleted,
}

impl Act {
    pub fn kind(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Edited => "edited",
            Self::StatusChanged { .. } => "status_changed",
            Self::FeedbackPublished(_) => "feedback_published",
            Self::FeedbackEdited(_) => "feedback_edited",
            Self::Hidden => "hidden",
            Self::Restored => "restored",
            Self::Deleted => "deleted",
        }
    }
}

/// Records `act` on `input` by `actor` (empty: the service itself).
pub async fn record<C: ConnectionTrait>(
    db: &C,
    input: Uuid,
    act: Act,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let (from, to, feedback) = match act {
        Act::StatusChanged { from, to } => (Some(from.name()), Some(to.name()), None),
        Act::FeedbackPublished(id) | Act::FeedbackEdited(id) => (None, None, Some(id)),
        _ => (None, None, None),
    };
    input_history::Entity::insert(
        input_history::Model {
            id: Uuid::now_v7(),
            input_id: input,
            kind: act.kind().to_owned(),
            from_status: from.map(str::to_owned),
            to_status: to.map(str::to_owned),
            feedback_id: feedback,
            actor_id: actor.to_owned(),
            at,
        }
        .into_active_model(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
