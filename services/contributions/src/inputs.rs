//! Inputs: posted in an open phase that takes input, read as the project's
//! visibility allows, edited and deleted by their author.

use chrono::{DateTime, Duration, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::error::{Error, Result};
use crate::projection;
use crate::state::State;
use crate::store::entities::{inputs, projected_phases, projected_projects, statistics};

pub const PROPOSED: &str = "proposed";

/// Every status, as stored and as the API names it.
const STATUSES: &[(&str, proto::InputStatus)] = &[
    (PROPOSED, proto::InputStatus::Proposed),
    (
        "under_consideration",
        proto::InputStatus::UnderConsideration,
    ),
    ("accepted", proto::InputStatus::Accepted),
    ("rejected", proto::InputStatus::Rejected),
    ("implemented", proto::InputStatus::Implemented),
    ("answered", proto::InputStatus::Answered),
    ("threshold_reached", proto::InputStatus::ThresholdReached),
    ("expired", proto::InputStatus::Expired),
    ("prescreening", proto::InputStatus::Prescreening),
];

fn status_proto(status: &str) -> i32 {
    STATUSES
        .iter()
        .find(|(name, _)| *name == status)
        .map_or(proto::InputStatus::Unspecified, |(_, s)| *s) as i32
}

fn status_name(value: i32) -> Option<&'static str> {
    STATUSES
        .iter()
        .find(|(_, s)| *s as i32 == value)
        .map(|(name, _)| *name)
}

pub fn etag(input: &inputs::Model) -> String {
    format!("input-v{}", input.version)
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn parse_uuid(field: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Error::invalid(field, "is not an id"))
}

/// The input as `caller` may see it: an anonymous input's author only to
/// the author and platform admins.
pub fn to_proto(input: &inputs::Model, caller: &Caller<'_>) -> proto::Input {
    let shows_author =
        !input.anonymous || caller.is_admin() || caller.subject() == Some(&input.author_id);
    proto::Input {
        id: input.id.to_string(),
        project_id: input.project_id.to_string(),
        phase_id: input.phase_id.to_string(),
        title: input.title.clone(),
        body: input.body.clone(),
        topics: serde_json::from_value(input.topics.clone()).unwrap_or_default(),
        location: match (input.latitude, input.longitude) {
            (Some(latitude), Some(longitude)) => Some(proto::Location {
                latitude,
                longitude,
            }),
            _ => None,
        },
        anonymous: input.anonymous,
        author_id: if shows_author {
            input.author_id.clone()
        } else {
            String::new()
        },
        status: status_proto(&input.status),
        created_at: Some(timestamp(input.created_at)),
        answer_deadline: Some(timestamp(input.answer_deadline)),
        feedback_given: input.feedback_given,
        etag: etag(input),
    }
}

// --- validation ------------------------------------------------------------

fn check_title(title: &str, v: &mut Vec<FieldViolation>) -> String {
    let title = title.trim();
    let n = title.chars().count();
    if !(3..=200).contains(&n) {
        v.push(FieldViolation::new("title", "must be 3 to 200 characters"));
    }
    title.to_owned()
}

fn check_body(body: &str, v: &mut Vec<FieldViolation>) -> String {
    let body = body.trim();
    let n = body.chars().count();
    if !(1..=20_000).contains(&n) {
        v.push(FieldViolation::new("body", "must be 1 to 20000 characters"));
    }
    body.to_owned()
}

fn check_topics(topics: &[String], v: &mut Vec<FieldViolation>) -> Vec<String> {
    let mut parsed: Vec<String> = Vec::new();
    for (i, topic) in topics.iter().enumerate() {
        let topic = topic.trim().to_lowercase();
        if topic.is_empty() || topic.chars().count() > 50 {
            v.push(FieldViolation::new(
                format!("topics[{i}]"),
                "must be 1 to 50 characters",
            ));
        } else if !parsed.contains(&topic) {
            parsed.push(topic);
        }
    }
    if parsed.len() > 10 {
        v.push(FieldViolation::new("topics", "at most 10 topics"));
    }
    parsed
}

fn check_location(
    location: Option<&proto::Location>,
    v: &mut Vec<FieldViolation>,
) -> (Option<f64>, Option<f64>) {
    let Some(location) = location else {
        return (None, None);
    };
    if !(-90.0..=90.0).contains(&location.latitude) {
        v.push(FieldViolation::new(
            "location.latitude",
            "must be from -90 to 90",
        ));
    }
    if !(-180.0..=180.0).contains(&location.longitude) {
        v.push(FieldViolation::new(
            "location.longitude",
            "must be from -180 to 180",
        ));
    }
    (Some(location.latitude), Some(location.longitude))
}

// --- create ----------------------------------------------------------------

/// Refuses, naming the condition, unless `caller` may post in `phase` of
/// `project` at `now`.
async fn ensure_may_post<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    project: Uuid,
    phase: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let refuse = |why: &str| Err(Error::FailedPrecondition(why.to_owned()));
    let Some(stored) = projected_projects::Entity::find_by_id(project)
        .one(db)
        .await?
    else {
        return refuse("the project is not known to contributions");
    };
    if stored.state != "published" {
        return refuse("the project is not published");
    }
    if !caller.may_see(db, &stored).await? {
        return Err(Error::NotFound("project"));
    }
    let Some(phase) = projected_phases::Entity::find_by_id(phase)
        .filter(projected_phases::Column::ProjectId.eq(project))
        .one(db)
        .await?
    else {
        return refuse("the phase is not part of this project");
    };
    if now < phase.starts_at {
        return refuse("the phase has not started");
    }
    if phase.ends_at.is_some_and(|end| now >= end) {
        return refuse("the phase has ended");
    }
    if !matches!(phase.method.as_str(), "ideation" | "proposals") {
        return Err(Error::FailedPrecondition(format!(
            "the phase's method ({}) does not take input",
            phase.method
        )));
    }
    let principal = caller.principal()?;
    match phase.post.as_str() {
        "everyone" | "registered" => Ok(()),
        "confirmed_email" if principal.email_verified => Ok(()),
        "confirmed_email" => refuse("posting in this phase needs a confirmed e-mail address"),
        "verified" => refuse("posting in this phase needs a verified identity"),
        _ if caller.is_manager(db, project).await? => Ok(()),
        _ => refuse("posting in this phase is for admins and the project's managers"),
    }
}

async fn by_request<C: ConnectionTrait>(
    db: &C,
    author: &str,
    request_id: &str,
) -> Result<Option<inputs::Model>> {
    Ok(inputs::Entity::find()
        .filter(inputs::Column::AuthorId.eq(author))
        .filter(inputs::Column::RequestId.eq(request_id))
        .one(db)
        .await?)
}

/// Adds `delta` to the input count of the project's row and of the phase's.
async fn count_input<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    delta: i64,
) -> Result<()> {
    for phase in [Uuid::nil(), phase] {
        statistics::Entity::insert(statistics::ActiveModel {
            project_id: Set(project),
            phase_id: Set(phase),
            input_count: Set(0),
        })
        .on_conflict(
            OnConflict::columns([statistics::Column::ProjectId, statistics::Column::PhaseId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        // One conditional update: concurrent posts add up, never overwrite.
        statistics::Entity::update_many()
            .col_expr(
                statistics::Column::InputCount,
                Expr::col(statistics::Column::InputCount).add(delta),
            )
            .filter(statistics::Column::ProjectId.eq(project))
            .filter(statistics::Column::PhaseId.eq(phase))
            .exec(db)
            .await?;
    }
    Ok(())
}

pub async fn create(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::CreateInputRequest,
) -> Result<proto::Input> {
    let author = caller.principal()?.subject.clone();
    let mut v = Vec::new();
    let project = parse_uuid("project_id", &request.project_id);
    let phase = parse_uuid("phase_id", &request.phase_id);
    for (field, parsed) in [("project_id", &project), ("phase_id", &phase)] {
        if parsed.is_err() {
            v.push(FieldViolation::new(field, "is not an id"));
        }
    }
    let title = check_title(&request.title, &mut v);
    let body = check_body(&request.body, &mut v);
    let topics = check_topics(&request.topics, &mut v);
    let (latitude, longitude) = check_location(request.location.as_ref(), &mut v);
    let request_id = request.request_id.trim();
    if request_id.chars().count() > 100 {
        v.push(FieldViolation::new("request_id", "at most 100 characters"));
    }
    let (Ok(project), Ok(phase), true) = (project, phase, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    let request_id = (!request_id.is_empty()).then(|| request_id.to_owned());
    // A retry answers with what the first request did, even if the phase
    // has closed since.
    if let Some(key) = &request_id
        && let Some(existing) = by_request(&state.db, &author, key).await?
    {
        return Ok(to_proto(&existing, caller));
    }

    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    ensure_may_post(&txn, caller, project, phase, now).await?;
    let (answer_target_days, _) = projection::charter(&txn).await?;
    let input = inputs::Model {
        id: Uuid::now_v7(),
        project_id: project,
        phase_id: phase,
        title,
        body,
        topics: serde_json::json!(topics),
        latitude,
        longitude,
        anonymous: request.anonymous,
        author_id: author.clone(),
        status: PROPOSED.to_owned(),
        request_id: request_id.clone(),
        feedback_given: false,
        created_at: now,
        answer_deadline: now + Duration::days(answer_target_days),
        updated_at: now,
        deleted_at: None,
        version: 1,
    };
    let inserted = inputs::Entity::insert(input.clone().into_active_model())
        .exec_without_returning(&txn)
        .await;
    if let Err(error) = inserted {
        drop(txn);
        // The same request raced itself: the first one's input is the answer.
        if let Some(key) = &request_id
            && let Some(existing) = by_request(&state.db, &author, key).await?
        {
            return Ok(to_proto(&existing, caller));
        }
        return Err(error.into());
    }
    count_input(&txn, project, phase, 1).await?;
    state
        .publish(
            &txn,
            "contributions.input.created.v1",
            "input",
            input.id,
            input.version,
            &events::InputCreated {
                input_id: input.id.to_string(),
                project_id: project.to_string(),
                phase_id: phase.to_string(),
                author_id: author,
                anonymous: input.anonymous,
                title: input.title.clone(),
                created_at: Some(timestamp(input.created_at)),
                answer_deadline: Some(timestamp(input.answer_deadline)),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(to_proto(&input, caller))
}

// --- reads -----------------------------------------------------------------

/// The input, if it exists, is not deleted, and the caller may see its
/// project; NOT_FOUND otherwise.
async fn visible<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    id: Uuid,
) -> Result<inputs::Model> {
    let input = inputs::Entity::find_by_id(id)
        .filter(inputs::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or(Error::NotFound("input"))?;
    caller
        .visible_project(db, input.project_id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound("input"),
            other => other,
        })?;
    Ok(input)
}

pub async fn get(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Input> {
    let input = visible(&state.db, caller, parse_uuid("id", id)?).await?;
    Ok(to_proto(&input, caller))
}

pub async fn list(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListInputsRequest,
) -> Result<proto::ListInputsResponse> {
    let max = state.settings.max_page_size;
    let page_size = match request.page_size {
        0 => Ord::min(20, max),
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => Ord::min(u64::try_from(n).unwrap_or(max), max),
    };
    let project = parse_uuid("project_id", &request.project_id)?;
    caller.visible_project(&state.db, project).await?;
    let mut query = inputs::Entity::find()
        .filter(inputs::Column::ProjectId.eq(project))
        .filter(inputs::Column::DeletedAt.is_null())
        .order_by_desc(inputs::Column::Id);
    if !request.phase_id.is_empty() {
        query =
            query.filter(inputs::Column::PhaseId.eq(parse_uuid("phase_id", &request.phase_id)?));
    }
    if request.status != proto::InputStatus::Unspecified as i32 {
        let status = status_name(request.status)
            .ok_or_else(|| Error::invalid("status", "is not an input status"))?;
        query = query.filter(inputs::Column::Status.eq(status));
    }
    if !request.page_token.is_empty() {
        // The token is the last id of the previous page: ids are UUIDv7, so
        // the next page is every id below it.
        query = query.filter(inputs::Column::Id.lt(parse_uuid("page_token", &request.page_token)?));
    }
    let rows = query.limit(page_size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > page_size;
    let page: Vec<&inputs::Model> = rows
        .iter()
        .take(usize::try_from(page_size).unwrap_or(usize::MAX))
        .collect();
    Ok(proto::ListInputsResponse {
        next_page_token: if more {
            page.last().map(|i| i.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        inputs: page.into_iter().map(|i| to_proto(i, caller)).collect(),
    })
}

// --- author's changes ------------------------------------------------------

/// The input for its author's change: NOT_FOUND if the caller cannot see
/// it, PERMISSION_DENIED if it is someone else's.
async fn own<C: ConnectionTrait>(db: &C, caller: &Caller<'_>, id: Uuid) -> Result<inputs::Model> {
    let subject = caller.principal()?.subject.clone();
    let input = visible(db, caller, id).await?;
    if input.author_id != subject {
        return Err(Error::PermissionDenied(
            "only the input's author may do this".to_owned(),
        ));
    }
    Ok(input)
}

pub async fn update(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UpdateInputRequest,
) -> Result<proto::Input> {
    let id = parse_uuid("id", &request.id)?;
    if request.update_mask.is_empty() {
        return Err(Error::invalid("update_mask", "name the fields to change"));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut input = own(&txn, caller, id).await?;
    if input.feedback_given {
        return Err(Error::FailedPrecondition(
            "official feedback has been given: the input can no longer be edited".to_owned(),
        ));
    }
    if !request.etag.is_empty() && request.etag != etag(&input) {
        return Err(Error::Aborted(
            "the input changed meanwhile; read it again".to_owned(),
        ));
    }
    let mut v = Vec::new();
    for path in &request.update_mask {
        match path.as_str() {
            "title" => input.title = check_title(&request.title, &mut v),
            "body" => input.body = check_body(&request.body, &mut v),
            "topics" => input.topics = serde_json::json!(check_topics(&request.topics, &mut v)),
            other => v.push(FieldViolation::new(
                "update_mask",
                format!("{other:?} cannot be changed here"),
            )),
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    save(state, txn, input)
        .await
        .map(|input| to_proto(&input, caller))
}

pub async fn delete(
    state: &State,
    caller: &Caller<'_>,
    id: &str,
) -> Result<proto::DeleteInputResponse> {
    let id = parse_uuid("id", id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut input = own(&txn, caller, id).await?;
    input.deleted_at = Some(state.clock.now());
    // The counters count the inputs people can read.
    count_input(&txn, input.project_id, input.phase_id, -1).await?;
    save(state, txn, input).await?;
    Ok(proto::DeleteInputResponse {})
}

/// Saves a changed input with the next version, unless it changed meanwhile.
async fn save(
    state: &State,
    txn: sea_orm::DatabaseTransaction,
    mut input: inputs::Model,
) -> Result<inputs::Model> {
    input.version += 1;
    input.updated_at = state.clock.now();
    let changed = inputs::Entity::update_many()
        // Every column written: the model was changed in memory.
        .set(input.clone().into_active_model().reset_all())
        .filter(inputs::Column::Id.eq(input.id))
        .filter(inputs::Column::Version.eq(input.version - 1))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(Error::Aborted(
            "the input changed meanwhile; read it again".to_owned(),
        ));
    }
    state.outbox.commit(txn).await?;
    Ok(input)
}
