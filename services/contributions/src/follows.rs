//! Follows of inputs and projects. Authors follow their own input from the
//! moment they post it; notifications learns of every follow and unfollow
//! from `contributions.follow.changed.v1`.

use chrono::{DateTime, Utc};
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::{Condition, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::error::{Error, Result};
use crate::inputs::visible;
use crate::listing::page_size;
use crate::state::State;
use crate::store::entities::{follows, inputs};
use crate::wire::{parse_uuid, timestamp};

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

// --- the caller's follows ----------------------------------------------------

/// The target a request names, as parsed from its `oneof`.
pub enum Named<'a> {
    Input(&'a str),
    Project(&'a str),
}

fn parse(named: Option<Named<'_>>) -> Result<Target> {
    match named {
        Some(Named::Input(raw)) => Ok(Target::Input(parse_uuid("input_id", raw)?)),
        Some(Named::Project(raw)) => Ok(Target::Project(parse_uuid("project_id", raw)?)),
        None => Err(Error::invalid("target", "name an input_id or a project_id")),
    }
}

/// Follows what `named` names, if the caller may see it.
pub async fn follow(
    state: &State,
    caller: &Caller<'_>,
    named: Option<Named<'_>>,
) -> Result<proto::FollowResponse> {
    let me = caller.principal()?.subject.clone();
    let target = parse(named)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = match target {
        Target::Input(id) => visible(&txn, caller, id).await?.project_id,
        Target::Project(id) => caller.visible_project(&txn, id).await?.id,
    };
    let changed = start(state, &txn, &me, target, project, state.clock.now()).await?;
    if changed {
        state.outbox.commit(txn).await?;
    }
    Ok(proto::FollowResponse {
        following: true,
        changed,
    })
}

/// Stops following what `named` names. No visibility check: one may always
/// stop following, even what one can no longer see.
pub async fn unfollow(
    state: &State,
    caller: &Caller<'_>,
    named: Option<Named<'_>>,
) -> Result<proto::FollowResponse> {
    let me = caller.principal()?.subject.clone();
    let target = parse(named)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let key = (me.clone(), target.kind().to_owned(), target.id());
    let Some(row) = follows::Entity::find_by_id(key.clone()).one(&txn).await? else {
        return Ok(proto::FollowResponse {
            following: false,
            changed: false,
        });
    };
    // Only the delete that removed the row announces it.
    let removed = follows::Entity::delete_by_id(key).exec(&txn).await?;
    let changed = removed.rows_affected > 0;
    if changed {
        let now = state.clock.now();
        announce(state, &txn, &me, target, row.project_id, false, now).await?;
        state.outbox.commit(txn).await?;
    }
    Ok(proto::FollowResponse {
        following: false,
        changed,
    })
}

/// The caller's follows: inputs, then projects, each in the order their
/// targets were created (the primary key's order, so a page is an index
/// range).
pub async fn mine(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListMyFollowsRequest,
) -> Result<proto::ListMyFollowsResponse> {
    let me = caller.principal()?.subject.clone();
    let size = page_size(state, request.page_size)?;
    let mut query = follows::Entity::find()
        .filter(follows::Column::UserId.eq(me))
        .order_by_asc(follows::Column::TargetType)
        .order_by_asc(follows::Column::TargetId);
    if !request.page_token.is_empty() {
        let bad = || Error::invalid("page_token", "is not a token of this list");
        let (kind, id) = request.page_token.split_once(':').ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        query = query.filter(
            Condition::any()
                .add(follows::Column::TargetType.gt(kind))
                .add(
                    Condition::all()
                        .add(follows::Column::TargetType.eq(kind))
                        .add(follows::Column::TargetId.gt(id)),
                ),
        );
    }
    let mut rows = query.limit(size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => format!("{}:{}", last.target_type, last.target_id),
        _ => String::new(),
    };
    Ok(proto::ListMyFollowsResponse {
        follows: rows
            .into_iter()
            .map(|row| proto::FollowedTarget {
                target_type: row.target_type,
                target_id: row.target_id.to_string(),
                project_id: row.project_id.to_string(),
                since: Some(timestamp(row.created_at)),
            })
            .collect(),
        next_page_token,
    })
}
