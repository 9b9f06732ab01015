//! How staff answer input: statuses along allowed transitions, official
//! feedback (published alone or with a status, in one act), edits that keep
//! every revision, bulk answers, and the overdue list.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, Stat};
use crate::error::{Error, Result};
use crate::history::{self, Act};
use crate::inputs::{self, etag, shows_author, status_of, to_proto, visible};
use crate::listing;
use crate::state::State;
use crate::status::Status;
use crate::store::answers::{feedback, feedback_revisions, input_history};
use crate::store::entities::inputs as input_rows;
use crate::wire::{parse_uuid, timestamp};

// --- validation ------------------------------------------------------------

/// A feedback's text per locale: at least one, each 1 to 10,000 characters,
/// locales like `nl` or `nl-BE`.
fn check_body(
    field: &str,
    body: &std::collections::HashMap<String, String>,
    v: &mut Vec<FieldViolation>,
) -> BTreeMap<String, String> {
    let mut checked = BTreeMap::new();
    if body.is_empty() {
        v.push(FieldViolation::new(
            field,
            "give the text in at least one locale",
        ));
    }
    for (locale, text) in body {
        let locale = locale.trim().to_owned();
        let well_formed = {
            let mut parts = locale.split('-');
            let language = parts.next().unwrap_or_default();
            (2..=3).contains(&language.len())
                && language.chars().all(|c| c.is_ascii_lowercase())
                && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(char::is_alphanumeric))
        };
        if !well_formed {
            v.push(FieldViolation::new(
                format!("{field}[{locale}]"),
                "is not a locale such as nl, fr or en",
            ));
            continue;
        }
        let text = text.trim();
        if !(1..=10_000).contains(&text.chars().count()) {
            v.push(FieldViolation::new(
                format!("{field}[{locale}]"),
                "must be 1 to 10000 characters",
            ));
        }
        checked.insert(locale, text.to_owned());
    }
    checked
}

fn check_signed_by(signed_by: &str, v: &mut Vec<FieldViolation>) -> String {
    let signed_by = signed_by.trim();
    if !(2..=120).contains(&signed_by.chars().count()) {
        v.push(FieldViolation::new(
            "signed_by",
            "must be 2 to 120 characters",
        ));
    }
    signed_by.to_owned()
}

/// The status a request asks for: `None` when unset; refused when unknown
/// or one only the service sets.
fn requested_status(value: i32) -> Result<Option<Status>> {
    if value == proto::InputStatus::Unspecified as i32 {
        return Ok(None);
    }
    let status = Status::from_wire(value)
        .ok_or_else(|| Error::invalid("status", "is not an input status"))?;
    if status.system_only() {
        return Err(Error::invalid(
            "status",
            format!("{status} is set by the service itself"),
        ));
    }
    Ok(Some(status))
}

// --- who answers ------------------------------------------------------------

/// Refuses unless the caller is one of the project's managers or an admin.
async fn ensure_answers<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    project: Uuid,
) -> Result<()> {
    caller.principal()?;
    if caller.is_manager(db, project).await? {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "only the project's managers and platform admins answer input".to_owned(),
        ))
    }
}

// --- the acts ----------------------------------------------------------------

/// Why a status changes, which names the event that tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Staff moved it on its own.
    Staff,
    /// Staff moved it while publishing feedback: one act.
    Feedback,
    /// The proposal gathered its supporters.
    ThresholdReached,
    /// The proposal's window closed without them.
    Expired,
}

impl Cause {
    fn event_type(self) -> &'static str {
        match self {
            Self::Staff | Self::Feedback => "contributions.input.status_changed.v1",
            Self::ThresholdReached => "contributions.input.threshold_reached.v1",
            Self::Expired => "contributions.proposal.expired.v1",
        }
    }
}

/// Moves `input` to `to` within `txn`: counters, history and the event. The
/// caller has checked that the move is allowed. `actor` empty: the service.
pub async fn change_status(
    state: &State,
    txn: &DatabaseTransaction,
    input: &mut input_rows::Model,
    to: Status,
    actor: &str,
    cause: Cause,
) -> Result<()> {
    let from = status_of(input);
    let now = state.clock.now();
    input.status = to.name().to_owned();
    counters::status(
        txn,
        input.project_id,
        input.phase_id,
        Some(from.name()),
        Some(to.name()),
    )
    .await?;
    history::record(txn, input.id, Act::StatusChanged { from, to }, actor, now).await?;
    state
        .publish(
            txn,
            cause.event_type(),
            "input",
            input.id,
            input.version + 1,
            &events::InputStatusChanged {
                input_id: input.id.to_string(),
                project_id: input.project_id.to_string(),
                author_id: input.author_id.clone(),
                title: input.title.clone(),
                from_status: from.name().to_owned(),
                to_status: to.name().to_owned(),
                actor_id: actor.to_owned(),
                at: Some(timestamp(now)),
                phase_id: input.phase_id.to_string(),
                with_feedback: cause == Cause::Feedback,
            },
        )
        .await
}

/// Refuses a move staff may not make.
fn ensure_transition(from: Status, to: Status) -> Result<()> {
    if from.may_become(to) {
        Ok(())
    } else {
        Err(Error::FailedPrecondition(format!(
            "an input cannot move from {from} to {to}"
        )))
    }
}

pub async fn set_status(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::SetStatusRequest,
) -> Result<proto::Input> {
    let id = parse_uuid("input_id", &request.input_id)?;
    let to = requested_status(request.status)?
        .ok_or_else(|| Error::invalid("status", "name the status to set"))?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut input = visible(&txn, caller, id).await?;
    ensure_answers(&txn, caller, input.project_id).await?;
    if !request.etag.is_empty() && request.etag != etag(&input) {
        return Err(Error::Aborted(
            "the input changed meanwhile; read it again".to_owned(),
        ));
    }
    ensure_transition(status_of(&input), to)?;
    let actor = caller.principal()?.subject.clone();
    change_status(state, &txn, &mut input, to, &actor, Cause::Staff).await?;
    let input = inputs::save(state, &txn, input).await?;
    state.outbox.commit(txn).await?;
    Ok(to_proto(&input, caller, state.clock.now()))
}

/// What one answer says: the same for one input or for a bulk of them.
struct Answer {
    body: BTreeMap<String, String>,
    signed_by: String,
    status: Option<Status>,
}

fn feedback_proto(
    row: &feedback::Model,
    revisions: Vec<proto::FeedbackRevision>,
) -> proto::Feedback {
    proto::Feedback {
        id: row.id.to_string(),
        input_id: row.input_id.to_string(),
        body: body_map(&row.body),
        signed_by: row.signed_by.clone(),
        author_id: row.author_id.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        revision: row.revision,
        revisions,
    }
}

fn body_map(body: &serde_json::Value) -> std::collections::HashMap<String, String> {
    serde_json::from_value(body.clone()).unwrap_or_default()
}

/// Publishes `answer` on `input` within `txn`; the caller has checked who
/// answers and that the status move is allowed.
async fn answer_one(
    state: &State,
    txn: &DatabaseTransaction,
    actor: &str,
    mut input: input_rows::Model,
    answer: &Answer,
    now: DateTime<Utc>,
) -> Result<(feedback::Model, input_rows::Model)> {
    let row = feedback::Model {
        id: Uuid::now_v7(),
        input_id: input.id,
        project_id: input.project_id,
        body: serde_json::json!(answer.body),
        signed_by: answer.signed_by.clone(),
        author_id: actor.to_owned(),
        created_at: now,
        updated_at: now,
        revision: 1,
    };
    feedback::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(txn)
        .await?;
    keep_revision(txn, &row).await?;
    history::record(txn, input.id, Act::FeedbackPublished(row.id), actor, now).await?;

    let first = input.first_feedback_at.is_none();
    let late = first && input.answer_deadline < now;
    let answer_seconds = if first {
        (now - input.created_at).num_seconds()
    } else {
        0
    };
    if first {
        let (project, phase) = (input.project_id, input.phase_id);
        counters::add(txn, project, phase, Stat::Answered, 1).await?;
        counters::answer_time(txn, project, phase, answer_seconds).await?;
        if input.overdue_at.is_some() {
            counters::add(txn, project, phase, Stat::Overdue, -1).await?;
        }
        input.first_feedback_at = Some(now);
        input.feedback_given = true;
    }
    let mut new_status = String::new();
    if let Some(to) = answer.status
        && to != status_of(&input)
    {
        change_status(state, txn, &mut input, to, actor, Cause::Feedback).await?;
        new_status = to.name().to_owned();
    }
    let input = inputs::save(state, txn, input).await?;
    state
        .publish(
            txn,
            "contributions.feedback.published.v1",
            "input",
            input.id,
            input.version,
            &events::FeedbackPublished {
                feedback_id: row.id.to_string(),
                input_id: input.id.to_string(),
                project_id: input.project_id.to_string(),
                input_author_id: input.author_id.clone(),
                input_title: input.title.clone(),
                body: answer.body.clone().into_iter().collect(),
                signed_by: row.signed_by.clone(),
                author_id: actor.to_owned(),
                status: new_status,
                edited: false,
                at: Some(timestamp(now)),
                late,
                answer_seconds,
                phase_id: input.phase_id.to_string(),
            },
        )
        .await?;
    Ok((row, input))
}

async fn keep_revision<C: ConnectionTrait>(db: &C, row: &feedback::Model) -> Result<()> {
    feedback_revisions::Entity::insert(
        feedback_revisions::Model {
            feedback_id: row.id,
            revision: row.revision,
            body: row.body.clone(),
            signed_by: row.signed_by.clone(),
            author_id: row.author_id.clone(),
            at: row.updated_at,
        }
        .into_active_model(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

fn answer_from(
    body: &std::collections::HashMap<String, String>,
    signed_by: &str,
    status: i32,
) -> Result<Answer> {
    let mut v = Vec::new();
    let body = check_body("body", body, &mut v);
    let signed_by = check_signed_by(signed_by, &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    Ok(Answer {
        body,
        signed_by,
        status: requested_status(status)?,
    })
}

pub async fn publish_feedback(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::PublishFeedbackRequest,
) -> Result<proto::PublishFeedbackResponse> {
    let id = parse_uuid("input_id", &request.input_id)?;
    let answer = answer_from(&request.body, &request.signed_by, request.status)?;
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let input = visible(&txn, caller, id).await?;
    ensure_answers(&txn, caller, input.project_id).await?;
    if let Some(to) = answer.status
        && to != status_of(&input)
    {
        ensure_transition(status_of(&input), to)?;
    }
    let actor = caller.principal()?.subject.clone();
    let first = input.first_feedback_at.is_none();
    let (row, input) = answer_one(state, &txn, &actor, input, &answer, now).await?;
    state.outbox.commit(txn).await?;
    if first {
        crate::metrics::get().feedback_given.add(1, &[]);
    }
    Ok(proto::PublishFeedbackResponse {
        feedback: Some(feedback_proto(&row, Vec::new())),
        input: Some(to_proto(&input, caller, now)),
    })
}

pub async fn update_feedback(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UpdateFeedbackRequest,
) -> Result<proto::Feedback> {
    let id = parse_uuid("feedback_id", &request.feedback_id)?;
    let mut v = Vec::new();
    let body = check_body("body", &request.body, &mut v);
    let signed_by =
        (!request.signed_by.trim().is_empty()).then(|| check_signed_by(&request.signed_by, &mut v));
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let row = feedback::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("feedback"))?;
    let input = visible(&txn, caller, row.input_id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound("feedback"),
            other => other,
        })?;
    ensure_answers(&txn, caller, input.project_id).await?;
    if request.revision != 0 && request.revision != row.revision {
        return Err(Error::Aborted(
            "the feedback changed meanwhile; read it again".to_owned(),
        ));
    }
    let actor = caller.principal()?.subject.clone();
    let updated = feedback::Model {
        body: serde_json::json!(body),
        signed_by: signed_by.unwrap_or_else(|| row.signed_by.clone()),
        author_id: actor.clone(),
        updated_at: now,
        revision: row.revision + 1,
        ..row.clone()
    };
    let changed = feedback::Entity::update_many()
        .set(updated.clone().into_active_model().reset_all())
        .filter(feedback::Column::Id.eq(id))
        .filter(feedback::Column::Revision.eq(row.revision))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(Error::Aborted(
            "the feedback changed meanwhile; read it again".to_owned(),
        ));
    }
    keep_revision(&txn, &updated).await?;
    history::record(&txn, input.id, Act::FeedbackEdited(id), &actor, now).await?;
    state
        .publish(
            &txn,
            "contributions.feedback.published.v1",
            "input",
            input.id,
            input.version,
            &events::FeedbackPublished {
                feedback_id: id.to_string(),
                input_id: input.id.to_string(),
                project_id: input.project_id.to_string(),
                input_author_id: input.author_id.clone(),
                input_title: input.title.clone(),
                body: body.into_iter().collect(),
                signed_by: updated.signed_by.clone(),
                author_id: actor,
                status: String::new(),
                edited: true,
                at: Some(timestamp(now)),
                late: false,
                answer_seconds: 0,
                phase_id: input.phase_id.to_string(),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(feedback_proto(&updated, Vec::new()))
}

pub async fn list_feedback(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListFeedbackRequest,
) -> Result<proto::ListFeedbackResponse> {
    let id = parse_uuid("input_id", &request.input_id)?;
    visible(&state.db, caller, id).await?;
    let rows = feedback::Entity::find()
        .filter(feedback::Column::InputId.eq(id))
        .order_by_asc(feedback::Column::Id)
        .all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let revisions = feedback_revisions::Entity::find()
            .filter(feedback_revisions::Column::FeedbackId.eq(row.id))
            .filter(feedback_revisions::Column::Revision.lt(row.revision))
            .order_by_asc(feedback_revisions::Column::Revision)
            .all(&state.db)
            .await?
            .into_iter()
            .map(|r| proto::FeedbackRevision {
                revision: r.revision,
                body: body_map(&r.body),
                signed_by: r.signed_by,
                author_id: r.author_id,
                at: Some(timestamp(r.at)),
            })
            .collect();
        out.push(feedback_proto(&row, revisions));
    }
    Ok(proto::ListFeedbackResponse { feedback: out })
}

pub async fn history(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::GetHistoryRequest,
) -> Result<proto::GetHistoryResponse> {
    let id = parse_uuid("input_id", &request.input_id)?;
    let input = visible(&state.db, caller, id).await?;
    let hide_author = !shows_author(&input, caller);
    let wire = |name: &Option<String>| {
        name.as_deref()
            .and_then(Status::from_name)
            .map_or(proto::InputStatus::Unspecified as i32, |s| s.wire() as i32)
    };
    let entries = input_history::Entity::find()
        .filter(input_history::Column::InputId.eq(id))
        .order_by_asc(input_history::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|e| proto::HistoryEntry {
            kind: e.kind.clone(),
            from_status: wire(&e.from_status),
            to_status: wire(&e.to_status),
            feedback_id: e.feedback_id.map(|f| f.to_string()).unwrap_or_default(),
            actor_id: if hide_author && e.actor_id == input.author_id {
                String::new()
            } else {
                e.actor_id
            },
            at: Some(timestamp(e.at)),
        })
        .collect();
    Ok(proto::GetHistoryResponse { entries })
}

pub async fn bulk_answer(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::BulkAnswerRequest,
) -> Result<proto::BulkAnswerResponse> {
    let project = parse_uuid("project_id", &request.project_id)?;
    let cap = state.settings.bulk_answer_max;
    let mut v = Vec::new();
    if request.input_ids.is_empty() {
        v.push(FieldViolation::new("input_ids", "name at least one input"));
    }
    if request.input_ids.len() as u64 > cap {
        v.push(FieldViolation::new(
            "input_ids",
            format!("at most {cap} inputs per call"),
        ));
    }
    let mut ids = Vec::with_capacity(request.input_ids.len());
    let mut seen = HashSet::new();
    for (i, raw) in request.input_ids.iter().enumerate() {
        match Uuid::parse_str(raw.trim()) {
            Ok(id) if seen.insert(id) => ids.push(id),
            Ok(_) => v.push(FieldViolation::new(
                format!("input_ids[{i}]"),
                "is named twice",
            )),
            Err(_) => v.push(FieldViolation::new(
                format!("input_ids[{i}]"),
                "is not an id",
            )),
        }
    }
    let answer = match answer_from(&request.body, &request.signed_by, request.status) {
        Ok(answer) => Some(answer),
        Err(Error::Invalid(more)) => {
            v.extend(more);
            None
        }
        Err(other) => return Err(other),
    };
    let (Some(answer), true) = (answer, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    caller.visible_project(&txn, project).await?;
    ensure_answers(&txn, caller, project).await?;
    let actor = caller.principal()?.subject.clone();
    // Every input is checked before anything is written: one refusal
    // refuses the whole call, and the transaction makes it all or nothing.
    let mut found = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let input = match visible(&txn, caller, *id).await {
            Ok(input) if input.project_id == project => input,
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(Error::Invalid(vec![FieldViolation::new(
                    format!("input_ids[{i}]"),
                    "is not an input of this project",
                )]));
            }
            Err(other) => return Err(other),
        };
        if let Some(to) = answer.status
            && to != status_of(&input)
            && !status_of(&input).may_become(to)
        {
            return Err(Error::FailedPrecondition(format!(
                "input_ids[{i}]: an input cannot move from {} to {to}",
                status_of(&input)
            )));
        }
        found.push(input);
    }
    let mut answers = Vec::with_capacity(found.len());
    let firsts = found
        .iter()
        .filter(|i| i.first_feedback_at.is_none())
        .count() as u64;
    for input in found {
        let (row, input) = answer_one(state, &txn, &actor, input, &answer, now).await?;
        answers.push((row, input));
    }
    state.outbox.commit(txn).await?;
    crate::metrics::get().feedback_given.add(firsts, &[]);
    Ok(proto::BulkAnswerResponse {
        answers: answers
            .into_iter()
            .map(|(row, input)| proto::PublishFeedbackResponse {
                feedback: Some(feedback_proto(&row, Vec::new())),
                input: Some(to_proto(&input, caller, now)),
            })
            .collect(),
    })
}

pub async fn list_overdue(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListOverdueRequest,
) -> Result<proto::ListOverdueResponse> {
    let project = parse_uuid("project_id", &request.project_id)?;
    caller.principal()?;
    caller.visible_project(&state.db, project).await?;
    if !caller.is_staff(&state.db, project).await? {
        return Err(Error::PermissionDenied(
            "the overdue list is for the project's staff".to_owned(),
        ));
    }
    let page = listing::overdue_page(
        state,
        caller,
        project,
        request.page_size,
        &request.page_token,
    )
    .await?;
    // A count over the (project, feedback_given, answer_deadline) index:
    // bounded by the overdue inputs of one project, not by all its inputs.
    let total = listing::overdue_only(
        input_rows::Entity::find()
            .filter(input_rows::Column::ProjectId.eq(project))
            .filter(input_rows::Column::DeletedAt.is_null()),
        state.clock.now(),
    )
    .count(&state.db)
    .await?;
    Ok(proto::ListOverdueResponse {
        inputs: page.inputs,
        next_page_token: page.next_page_token,
        total: i64::try_from(total).unwrap_or(i64::MAX),
    })
}
