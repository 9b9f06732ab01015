//! Follows of inputs and projects. Authors follow their own input from the
//! moment they post it; notifications learns of every follow and unfollow
//! from `contributions.follow.changed.v1`.

use chrono::{DateTime, Utc};
use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseTransaction, EntityTrait};
use uuid::Uuid;

use crate::error::Result;
use crate::state::State;
use crate::store::entities::{follows, inputs};
use crate::wire::timestamp;

/// What can be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Input(Uuid),
    Project(Uuid),
}

impl Target {
    pub fn kind(self) -> &'static str {
        match self {
            Self::Input(_) => "input",
            Self::Project(_) => "project",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Self::Input(id) | Self::Project(id) => id,
        }
    }
}

/// Makes `user` follow `target` (in `project`). Idempotent: returns whether
/// the follow is new, and only a new one is announced.
pub async fn start(
    state: &State,
    txn: &DatabaseTransaction,
    user: &str,
    target: Target,
    project: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let inserted = follows::Entity::insert(follows::ActiveModel {
        user_id: Set(user.to_owned()),
        target_type: Set(target.kind().to_owned()),
        target_id: Set(target.id()),
        project_id: Set(project),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            follows::Column::UserId,
            follows::Column::TargetType,
            follows::Column::TargetId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted > 0 {
        announce(state, txn, user, target, project, true, now).await?;
    }
    Ok(inserted > 0)
}

/// Authors follow what they post.
pub async fn follow_own_input(
    state: &State,
    txn: &DatabaseTransaction,
    input: &inputs::Model,
) -> Result<()> {
    start(
        state,
        txn,
        &input.author_id,
        Target::Input(input.id),
        input.project_id,
        input.created_at,
    )
    .await
    .map(|_| ())
}

pub async fn announce<C: ConnectionTrait>(
    state: &State,
    txn: &C,
    user: &str,
    target: Target,
    project: Uuid,
    following: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    state
        .publish(
            txn,
            "contributions.follow.changed.v1",
            "follow",
            format!("{user}:{}:{}", target.kind(), target.id()),
            0,
            &events::FollowChanged {
                user_id: user.to_owned(),
                target_type: target.kind().to_owned(),
                target_id: target.id().to_string(),
                project_id: project.to_string(),
                following,
                at: Some(timestamp(now)),
            },
        )
        .await
}
