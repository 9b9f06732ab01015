//! Comments on inputs, two levels deep: comments and their replies. Internal
//! comments are the staff's notes on an input and never leave the staff;
//! hidden ones (moderation) stay visible to their author and the staff.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, InputCount, Stat};
use crate::error::{Error, Result};
use crate::inputs::visible;
use crate::listing::page_size;
use crate::posting_limits::{self, Posting};
use crate::reactions::open_phase;
use crate::state::State;
use crate::store::discussion::comments;
use crate::store::entities::inputs;
use crate::wire::{parse_uuid, timestamp};

/// The most characters an event's excerpt of a comment holds.
const EXCERPT: usize = 200;

fn check_body(body: &str, v: &mut Vec<FieldViolation>) -> String {
    let body = body.trim();
    if !(1..=5000).contains(&body.chars().count()) {
        v.push(FieldViolation::new("body", "must be 1 to 5000 characters"));
    }
    body.to_owned()
}

/// The comment on the wire (without replies); a deleted one without its
/// text.
fn to_proto(comment: &comments::Model) -> proto::Comment {
    let deleted = comment.deleted_at.is_some();
    proto::Comment {
        id: comment.id.to_string(),
        input_id: comment.input_id.to_string(),
        parent_id: comment.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        author_id: comment.author_id.clone(),
        body: if deleted {
            String::new()
        } else {
            comment.body.clone()
        },
        internal: comment.internal,
        deleted,
        hidden: comment.hidden_at.is_some(),
        created_at: Some(timestamp(comment.created_at)),
        updated_at: Some(timestamp(comment.updated_at)),
        edited: comment.version > 1 && !deleted,
        replies: Vec::new(),
    }
}

/// Keeps the comments `caller` may see: internal ones for the staff only,
/// hidden ones for their author and the staff.
fn seen_by(
    query: Select<comments::Entity>,
    caller: &Caller<'_>,
    staff: bool,
) -> Select<comments::Entity> {
    if staff {
        return query;
    }
    let mut shown = Condition::any().add(comments::Column::HiddenAt.is_null());
    if let Some(me) = caller.subject() {
        shown = shown.add(comments::Column::AuthorId.eq(me));
    }
    query
        .filter(comments::Column::Internal.eq(false))
        .filter(shown)
}

/// Whether `caller` may see `comment` (its input already visible to them).
fn may_see(comment: &comments::Model, caller: &Caller<'_>, staff: bool) -> bool {
    let own = caller.subject() == Some(&comment.author_id);
    staff || (!comment.internal && (comment.hidden_at.is_none() || own))
}

/// The comment, not deleted, on an input `caller` may see, if they may see
/// it: NOT_FOUND otherwise. Returns its input and whether the caller is
/// the project's staff.
async fn visible_comment<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    id: Uuid,
) -> Result<(comments::Model, inputs::Model, bool)> {
    let comment = comments::Entity::find_by_id(id)
        .filter(comments::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or(Error::NotFound("comment"))?;
    let input = visible(db, caller, comment.input_id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound("comment"),
            other => other,
        })?;
    let staff = caller.is_staff(db, input.project_id).await?;
    if !may_see(&comment, caller, staff) {
        return Err(Error::NotFound("comment"));
    }
    Ok((comment, input, staff))
}

/// The comment for its author's change: PERMISSION_DENIED for anyone else.
async fn own<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    id: Uuid,
) -> Result<(comments::Model, inputs::Model)> {
    let me = caller.principal()?.subject.clone();
    let (comment, input, _) = visible_comment(db, caller, id).await?;
    if comment.author_id != me {
        return Err(Error::PermissionDenied(
            "only the comment's author may do this".to_owned(),
        ));
    }
    Ok((comment, input))
}

async fn by_request<C: ConnectionTrait>(
    db: &C,
    author: &str,
    request_id: &str,
) -> Result<Option<comments::Model>> {
    Ok(comments::Entity::find()
        .filter(comments::Column::AuthorId.eq(author))
        .filter(comments::Column::RequestId.eq(request_id))
        .one(db)
        .await?)
}

/// Moves the comment counts of `input` by `delta`. Internal comments are
/// not counted: the counts are public, and would give the notes away.
/// The statistics' rows go before the input's row, as for reactions.
async fn count<C: ConnectionTrait>(db: &C, input: &inputs::Model, delta: i64) -> Result<()> {
    counters::add(db, input.project_id, input.phase_id, Stat::Comments, delta).await?;
    counters::add_to_input(db, input.id, InputCount::Comments, delta).await?;
    Ok(())
}

/// The parent of a reply: a top-level comment on the same input that the
/// caller may see and that is not deleted.
async fn parent_of<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    input: &inputs::Model,
    id: Uuid,
    staff: bool,
) -> Result<comments::Model> {
    let parent = comments::Entity::find_by_id(id)
        .filter(comments::Column::InputId.eq(input.id))
        .one(db)
        .await?
        .filter(|p| may_see(p, caller, staff))
        .ok_or(Error::NotFound("parent comment"))?;
    if parent.parent_id.is_some() {
        return Err(Error::FailedPrecondition(
            "a reply cannot be answered: reply to the top-level comment".to_owned(),
        ));
    }
    if parent.deleted_at.is_some() {
        return Err(Error::FailedPrecondition(
            "the comment answered has been deleted".to_owned(),
        ));
    }
    Ok(parent)
}

pub async fn post(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::PostCommentRequest,
) -> Result<proto::Comment> {
    let author = caller.principal()?.subject.clone();
    let mut v = Vec::new();
    let input_id = parse_uuid("input_id", &request.input_id);
    if input_id.is_err() {
        v.push(FieldViolation::new("input_id", "is not an id"));
    }
    let parent_id = if request.parent_id.trim().is_empty() {
        Ok(None)
    } else {
        parse_uuid("parent_id", &request.parent_id).map(Some)
    };
    if parent_id.is_err() {
        v.push(FieldViolation::new("parent_id", "is not an id"));
    }
    let body = check_body(&request.body, &mut v);
    let request_id = request.request_id.trim();
    if request_id.chars().count() > 100 {
        v.push(FieldViolation::new("request_id", "at most 100 characters"));
    }
    let (Ok(input_id), Ok(parent_id), true) = (input_id, parent_id, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    let request_id = (!request_id.is_empty()).then(|| request_id.to_owned());
    // A retry answers with what the first request did.
    if let Some(key) = &request_id
        && let Some(existing) = by_request(&state.db, &author, key).await?
    {
        return Ok(to_proto(&existing));
    }

    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    caller.ensure_may_contribute(&txn, now).await?;
    let input = visible(&txn, caller, input_id).await?;
    posting_limits::ensure_within(
        &txn,
        Posting::Comment,
        &author,
        state.settings.comments_per_minute,
        now,
    )
    .await?;
    let staff = caller.is_staff(&txn, input.project_id).await?;
    if request.internal && !staff {
        return Err(Error::PermissionDenied(
            "internal comments are for the project's staff".to_owned(),
        ));
    }
    let parent = match parent_id {
        Some(id) => Some(parent_of(&txn, caller, &input, id, staff).await?),
        None => None,
    };
    // A reply to an internal comment stays among the staff.
    let internal = request.internal || parent.as_ref().is_some_and(|p| p.internal);
    if !internal {
        // Staff notes go on while input is answered, after the phase; the
        // public discussion follows the phase and its permission.
        let phase = open_phase(&txn, &input, now).await?;
        caller
            .ensure_permitted(&txn, input.project_id, &phase.comment, "commenting")
            .await?;
    }
    let comment = comments::Model {
        id: Uuid::now_v7(),
        input_id: input.id,
        project_id: input.project_id,
        parent_id: parent.as_ref().map(|p| p.id),
        author_id: author.clone(),
        body,
        internal,
        request_id: request_id.clone(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        hidden_at: None,
        version: 1,
        open_reports: 0,
    };
    let inserted = comments::Entity::insert(comment.clone().into_active_model())
        .exec_without_returning(&txn)
        .await;
    if let Err(error) = inserted {
        drop(txn);
        // The same request raced itself: the first one's comment is the
        // answer.
        if let Some(key) = &request_id
            && let Some(existing) = by_request(&state.db, &author, key).await?
        {
            return Ok(to_proto(&existing));
        }
        return Err(error.into());
    }
    if !internal {
        count(&txn, &input, 1).await?;
        counters::participant(&txn, input.project_id, input.phase_id, &author).await?;
    }
    state
        .publish(
            &txn,
            "contributions.comment.posted.v1",
            "comment",
            comment.id,
            comment.version,
            &events::CommentPosted {
                comment_id: comment.id.to_string(),
                input_id: input.id.to_string(),
                project_id: input.project_id.to_string(),
                author_id: author,
                parent_id: comment.parent_id.map(|p| p.to_string()).unwrap_or_default(),
                parent_author_id: parent.map(|p| p.author_id).unwrap_or_default(),
                input_author_id: input.author_id.clone(),
                input_title: input.title.clone(),
                internal,
                excerpt: comment.body.chars().take(EXCERPT).collect(),
                at: Some(timestamp(now)),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(to_proto(&comment))
}

async fn announce(
    state: &State,
    txn: &DatabaseTransaction,
    comment: &comments::Model,
    event_type: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    state
        .publish(
            txn,
            event_type,
            "comment",
            comment.id,
            comment.version,
            &events::CommentChanged {
                comment_id: comment.id.to_string(),
                input_id: comment.input_id.to_string(),
                project_id: comment.project_id.to_string(),
                actor_id: comment.author_id.clone(),
                at: Some(timestamp(at)),
            },
        )
        .await
}

/// Writes `changed` over the stored comment, unless someone changed or
/// deleted it meanwhile (ABORTED).
async fn save(txn: &DatabaseTransaction, changed: &comments::Model) -> Result<()> {
    let written = comments::Entity::update_many()
        .col_expr(comments::Column::Body, Expr::value(changed.body.clone()))
        .col_expr(comments::Column::UpdatedAt, Expr::value(changed.updated_at))
        .col_expr(comments::Column::DeletedAt, Expr::value(changed.deleted_at))
        .col_expr(comments::Column::Version, Expr::value(changed.version))
        .filter(comments::Column::Id.eq(changed.id))
        .filter(comments::Column::Version.eq(changed.version - 1))
        .filter(comments::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    if written.rows_affected == 0 {
        return Err(Error::Aborted(
            "the comment changed meanwhile; read it again".to_owned(),
        ));
    }
    Ok(())
}

pub async fn update(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UpdateCommentRequest,
) -> Result<proto::Comment> {
    let id = parse_uuid("comment_id", &request.comment_id)?;
    let mut v = Vec::new();
    let body = check_body(&request.body, &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (comment, _) = own(&txn, caller, id).await?;
    caller.ensure_may_contribute(&txn, now).await?;
    let changed = comments::Model {
        body,
        updated_at: now,
        version: comment.version + 1,
        ..comment
    };
    save(&txn, &changed).await?;
    announce(
        state,
        &txn,
        &changed,
        "contributions.comment.edited.v1",
        now,
    )
    .await?;
    state.outbox.commit(txn).await?;
    Ok(to_proto(&changed))
}

pub async fn delete(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::DeleteCommentRequest,
) -> Result<proto::DeleteCommentResponse> {
    let id = parse_uuid("comment_id", &request.comment_id)?;
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let (comment, input) = own(&txn, caller, id).await?;
    // The text goes with the deletion; the row stays to keep its replies'
    // thread.
    let changed = comments::Model {
        body: String::new(),
        updated_at: now,
        deleted_at: Some(now),
        version: comment.version + 1,
        ..comment
    };
    save(&txn, &changed).await?;
    if !changed.internal {
        count(&txn, &input, -1).await?;
    }
    announce(
        state,
        &txn,
        &changed,
        "contributions.comment.deleted.v1",
        now,
    )
    .await?;
    state.outbox.commit(txn).await?;
    Ok(proto::DeleteCommentResponse {})
}

pub async fn list(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListCommentsRequest,
) -> Result<proto::ListCommentsResponse> {
    let input_id = parse_uuid("input_id", &request.input_id)?;
    let size = page_size(state, request.page_size)?;
    let input = visible(&state.db, caller, input_id).await?;
    let staff = caller.is_staff(&state.db, input.project_id).await?;
    let mut query = seen_by(
        comments::Entity::find()
            .filter(comments::Column::InputId.eq(input.id))
            .filter(comments::Column::ParentId.is_null()),
        caller,
        staff,
    )
    .order_by_asc(comments::Column::Id);
    if !request.page_token.is_empty() {
        let after = request
            .page_token
            .strip_prefix("c:")
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| Error::invalid("page_token", "is not a token of this list"))?;
        query = query.filter(comments::Column::Id.gt(after));
    }
    let mut top = query.limit(size + 1).all(&state.db).await?;
    let more = top.len() as u64 > size;
    top.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    let next_page_token = match (more, top.last()) {
        (true, Some(last)) => format!("c:{}", last.id),
        _ => String::new(),
    };
    // Every reply of the page in one query, not one per comment.
    let mut replies: HashMap<Uuid, Vec<proto::Comment>> = HashMap::new();
    if !top.is_empty() {
        let rows = seen_by(
            comments::Entity::find()
                .filter(comments::Column::ParentId.is_in(top.iter().map(|c| c.id)))
                .filter(comments::Column::DeletedAt.is_null()),
            caller,
            staff,
        )
        .order_by_asc(comments::Column::Id)
        .all(&state.db)
        .await?;
        for reply in rows {
            if let Some(parent) = reply.parent_id {
                replies.entry(parent).or_default().push(to_proto(&reply));
            }
        }
    }
    let comments = top
        .iter()
        .filter_map(|comment| {
            let replies = replies.remove(&comment.id).unwrap_or_default();
            // A deleted comment stays only to hold its replies together.
            if comment.deleted_at.is_some() && replies.is_empty() {
                return None;
            }
            Some(proto::Comment {
                replies,
                ..to_proto(comment)
            })
        })
        .collect();
    Ok(proto::ListCommentsResponse {
        comments,
        next_page_token,
    })
}

// --- for moderation ----------------------------------------------------------

/// The comment, if `caller` may see it (NOT_FOUND otherwise): moderation
/// reports and judges only what its caller can see.
pub async fn visible_to<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    id: Uuid,
) -> Result<comments::Model> {
    visible_comment(db, caller, id)
        .await
        .map(|(comment, _, _)| comment)
}

/// Announces that moderation hid or restored comment `id`; `actor` empty:
/// hidden by reports.
pub async fn announce_moderation(
    state: &State,
    txn: &DatabaseTransaction,
    id: Uuid,
    hidden: bool,
    actor: &str,
) -> Result<()> {
    let comment = comments::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound("comment"))?;
    let event_type = if hidden {
        "contributions.comment.hidden.v1"
    } else {
        "contributions.comment.restored.v1"
    };
    state
        .publish(
            txn,
            event_type,
            "comment",
            comment.id,
            comment.version,
            &events::CommentChanged {
                comment_id: comment.id.to_string(),
                input_id: comment.input_id.to_string(),
                project_id: comment.project_id.to_string(),
                actor_id: actor.to_owned(),
                at: Some(timestamp(state.clock.now())),
            },
        )
        .await
}
