//! Inputs: posted in an open phase that takes input, read as the project's
//! visibility allows, edited and deleted by their author.

use chrono::{DateTime, Duration, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, Stat};
use crate::error::{Error, Result};
use crate::history::{self, Act};
use crate::posting_limits::{self, Posting};
use crate::projection;
use crate::state::State;
use crate::status::Status;
use crate::store::entities::{input_topics, inputs, projected_phases, projected_projects};
use crate::wire::{parse_uuid, timestamp};

pub fn etag(input: &inputs::Model) -> String {
    format!("input-v{}", input.version)
}

/// The stored status of `input`.
pub fn status_of(input: &inputs::Model) -> Status {
    // Only this module's writers store statuses, always from `Status`.
    Status::from_name(&input.status).unwrap_or(Status::Proposed)
}

/// Past its answer deadline at `now` without feedback.
pub fn is_overdue(input: &inputs::Model, now: DateTime<Utc>) -> bool {
    !input.feedback_given && input.answer_deadline <= now
}

/// Whether `caller` may see who wrote `input`: always unless it is
/// anonymous; then only its author and platform admins.
pub fn shows_author(input: &inputs::Model, caller: &Caller<'_>) -> bool {
    !input.anonymous || caller.is_admin() || caller.subject() == Some(&input.author_id)
}

/// The input as `caller` may see it at `now`.
pub fn to_proto(input: &inputs::Model, caller: &Caller<'_>, now: DateTime<Utc>) -> proto::Input {
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
        author_id: if shows_author(input, caller) {
            input.author_id.clone()
        } else {
            String::new()
        },
        status: status_of(input).wire() as i32,
        created_at: Some(timestamp(input.created_at)),
        answer_deadline: Some(timestamp(input.answer_deadline)),
        feedback_given: input.feedback_given,
        etag: etag(input),
        reactions_up: input.reactions_up,
        reactions_down: input.reactions_down,
        comment_count: input.comment_count,
        vote_count: input.vote_count,
        cost: input.cost,
        overdue: is_overdue(input, now),
        hidden: input.hidden_at.is_some(),
        support_threshold: input.support_threshold,
        expires_at: input.expires_at.map(timestamp),
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

/// A new input as asked for, checked: what `create` stores, before it looks
/// at the project, the phase or the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInput {
    pub project: Uuid,
    pub phase: Uuid,
    /// Trimmed, 3 to 200 characters.
    pub title: String,
    /// Trimmed, 1 to 20,000 characters.
    pub body: String,
    /// Lower case, trimmed, each 1 to 50 characters, no repeats, at most 10.
    pub topics: Vec<String>,
    /// Latitude and longitude, within their ranges.
    pub location: Option<(f64, f64)>,
    /// The caller's key for retries: trimmed, at most 100 characters.
    pub request_id: Option<String>,
    pub anonymous: bool,
}

impl NewInput {
    /// Checks every field of `request`; every problem is reported at once.
    pub fn parse(
        request: &proto::CreateInputRequest,
    ) -> std::result::Result<Self, Vec<FieldViolation>> {
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
            return Err(v);
        };
        Ok(Self {
            project,
            phase,
            title,
            body,
            topics,
            location: latitude.zip(longitude),
            request_id: (!request_id.is_empty()).then(|| request_id.to_owned()),
            anonymous: request.anonymous,
        })
    }

    /// The request that asks for exactly this input.
    pub fn to_request(&self) -> proto::CreateInputRequest {
        proto::CreateInputRequest {
            project_id: self.project.to_string(),
            phase_id: self.phase.to_string(),
            title: self.title.clone(),
            body: self.body.clone(),
            topics: self.topics.clone(),
            location: self.location.map(|(latitude, longitude)| proto::Location {
                latitude,
                longitude,
            }),
            request_id: self.request_id.clone().unwrap_or_default(),
            anonymous: self.anonymous,
        }
    }
}

/// The phase `caller` may post in, refusing with the condition that failed
/// unless they may post in `phase` of `project` at `now`.
async fn ensure_may_post<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    project: Uuid,
    phase: Uuid,
    now: DateTime<Utc>,
) -> Result<(projected_projects::Model, projected_phases::Model)> {
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
    caller
        .ensure_permitted(db, project, &phase.post, "posting")
        .await?;
    Ok((stored, phase))
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

/// Replaces the topic rows of `input` (the topic filter's index).
async fn write_topics<C: ConnectionTrait>(db: &C, input: &inputs::Model) -> Result<()> {
    input_topics::Entity::delete_many()
        .filter(input_topics::Column::ProjectId.eq(input.project_id))
        .filter(input_topics::Column::InputId.eq(input.id))
        .exec(db)
        .await?;
    let topics: Vec<String> = serde_json::from_value(input.topics.clone()).unwrap_or_default();
    for topic in topics {
        input_topics::Entity::insert(input_topics::ActiveModel {
            project_id: Set(input.project_id),
            topic: Set(topic),
            input_id: Set(input.id),
        })
        .exec_without_returning(db)
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
    let NewInput {
        project,
        phase,
        title,
        body,
        topics,
        location,
        request_id,
        anonymous,
    } = NewInput::parse(request).map_err(Error::Invalid)?;
    let (latitude, longitude) = location.map_or((None, None), |(lat, lon)| (Some(lat), Some(lon)));
    let now = state.clock.now();
    // A retry answers with what the first request did, even if the phase
    // has closed since.
    if let Some(key) = &request_id
        && let Some(existing) = by_request(&state.db, &author, key).await?
    {
        return Ok(to_proto(&existing, caller, now));
    }

    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    caller.ensure_may_contribute(&txn, now).await?;
    let (stored, phase) = ensure_may_post(&txn, caller, project, phase, now).await?;
    posting_limits::ensure_within(
        &txn,
        Posting::Input,
        &author,
        state.settings.inputs_per_minute,
        now,
    )
    .await?;
    // A screened project's input waits for its staff before it is public.
    let status = if stored.prescreening {
        Status::Prescreening
    } else {
        Status::Proposed
    };
    let (answer_target_days, _) = projection::charter(&txn).await?;
    let proposals = phase.method == "proposals" && phase.expiry_days > 0;
    let input = inputs::Model {
        id: Uuid::now_v7(),
        project_id: project,
        phase_id: phase.id,
        title,
        body,
        topics: serde_json::json!(topics),
        latitude,
        longitude,
        anonymous,
        author_id: author.clone(),
        status: status.name().to_owned(),
        request_id: request_id.clone(),
        feedback_given: false,
        created_at: now,
        answer_deadline: now + Duration::days(answer_target_days),
        updated_at: now,
        deleted_at: None,
        version: 1,
        hidden_at: None,
        cost: 0,
        support_threshold: if proposals {
            phase.support_threshold
        } else {
            0
        },
        expires_at: proposals.then(|| now + Duration::days(phase.expiry_days)),
        first_feedback_at: None,
        overdue_at: None,
        reactions_up: 0,
        reactions_down: 0,
        comment_count: 0,
        vote_count: 0,
        open_reports: 0,
        trending: 0.0,
        reactions_since: None,
    };
    let input = inputs::Model {
        trending: counters::trending(&input),
        ..input
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
            return Ok(to_proto(&existing, caller, now));
        }
        return Err(error.into());
    }
    write_topics(&txn, &input).await?;
    counters::add(&txn, project, phase.id, Stat::Inputs, 1).await?;
    counters::status(&txn, project, phase.id, None, Some(status.name())).await?;
    counters::participant(&txn, project, phase.id, &author).await?;
    history::record(&txn, input.id, Act::Created, &author, now).await?;
    crate::follows::follow_own_input(state, &txn, &input).await?;
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
                phase_id: phase.id.to_string(),
                author_id: author,
                anonymous: input.anonymous,
                title: input.title.clone(),
                created_at: Some(timestamp(input.created_at)),
                answer_deadline: Some(timestamp(input.answer_deadline)),
                status: status.name().to_owned(),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    crate::metrics::get().inputs_created.add(1, &[]);
    Ok(to_proto(&input, caller, now))
}

// --- reads -----------------------------------------------------------------

/// The input, if it exists, is not deleted, and the caller may see it:
/// NOT_FOUND otherwise. A hidden input is seen only by its author, the
/// project's managers and admins.
pub async fn visible<C: ConnectionTrait>(
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
    if withheld_from(caller, &input) && !caller.is_staff(db, input.project_id).await? {
        return Err(Error::NotFound("input"));
    }
    Ok(input)
}

/// Whether `input` is withheld from `caller` unless they are on the
/// project's staff: hidden and screened input is for its author and the
/// project's staff only.
pub fn withheld_from(caller: &Caller<'_>, input: &inputs::Model) -> bool {
    let withheld = input.hidden_at.is_some() || input.status == Status::Prescreening.name();
    withheld && caller.subject() != Some(&input.author_id)
}

pub async fn get(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Input> {
    let input = visible(&state.db, caller, parse_uuid("id", id)?).await?;
    Ok(to_proto(&input, caller, state.clock.now()))
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
    caller
        .ensure_may_contribute(&txn, state.clock.now())
        .await?;
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
    let mut topics_changed = false;
    for path in &request.update_mask {
        match path.as_str() {
            "title" => input.title = check_title(&request.title, &mut v),
            "body" => input.body = check_body(&request.body, &mut v),
            "topics" => {
                input.topics = serde_json::json!(check_topics(&request.topics, &mut v));
                topics_changed = true;
            }
            other => v.push(FieldViolation::new(
                "update_mask",
                format!("{other:?} cannot be changed here"),
            )),
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    if topics_changed {
        write_topics(&txn, &input).await?;
    }
    let now = state.clock.now();
    let actor = input.author_id.clone();
    history::record(&txn, input.id, Act::Edited, &actor, now).await?;
    let input = save(state, &txn, input).await?;
    announce(state, &txn, &input, "contributions.input.edited.v1", &actor).await?;
    state.outbox.commit(txn).await?;
    Ok(to_proto(&input, caller, now))
}

pub async fn delete(
    state: &State,
    caller: &Caller<'_>,
    id: &str,
) -> Result<proto::DeleteInputResponse> {
    let id = parse_uuid("id", id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut input = own(&txn, caller, id).await?;
    let now = state.clock.now();
    input.deleted_at = Some(now);
    uncount(&txn, &input).await?;
    let actor = input.author_id.clone();
    history::record(&txn, input.id, Act::Deleted, &actor, now).await?;
    let input = save(state, &txn, input).await?;
    announce(
        state,
        &txn,
        &input,
        "contributions.input.deleted.v1",
        &actor,
    )
    .await?;
    state.outbox.commit(txn).await?;
    Ok(proto::DeleteInputResponse {})
}

/// Takes a deleted or erased input out of every counter that counts it.
pub async fn uncount<C: ConnectionTrait>(db: &C, input: &inputs::Model) -> Result<()> {
    let (project, phase) = (input.project_id, input.phase_id);
    counters::add(db, project, phase, Stat::Inputs, -1).await?;
    counters::status(db, project, phase, Some(status_of(input).name()), None).await?;
    if input.feedback_given {
        counters::add(db, project, phase, Stat::Answered, -1).await?;
    } else if input.overdue_at.is_some() {
        counters::add(db, project, phase, Stat::Overdue, -1).await?;
    }
    Ok(())
}

/// Writes an `InputChanged` event of `event_type` about `input`.
pub async fn announce(
    state: &State,
    txn: &DatabaseTransaction,
    input: &inputs::Model,
    event_type: &str,
    actor: &str,
) -> Result<()> {
    state
        .publish(
            txn,
            event_type,
            "input",
            input.id,
            input.version,
            &events::InputChanged {
                input_id: input.id.to_string(),
                project_id: input.project_id.to_string(),
                phase_id: input.phase_id.to_string(),
                author_id: input.author_id.clone(),
                title: input.title.clone(),
                actor_id: actor.to_owned(),
                at: Some(timestamp(state.clock.now())),
            },
        )
        .await
}

/// Saves a changed input with the next version within `txn`, unless it
/// changed meanwhile (ABORTED).
pub async fn save(
    state: &State,
    txn: &DatabaseTransaction,
    mut input: inputs::Model,
) -> Result<inputs::Model> {
    input.version += 1;
    input.updated_at = state.clock.now();
    let changed = inputs::Entity::update_many()
        // Every column written: the model was changed in memory. Counters
        // are left out: they move by relative updates only.
        .set(
            input
                .clone()
                .into_active_model()
                .reset_all()
                .without_counters(),
        )
        .filter(inputs::Column::Id.eq(input.id))
        .filter(inputs::Column::Version.eq(input.version - 1))
        .exec(txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(Error::Aborted(
            "the input changed meanwhile; read it again".to_owned(),
        ));
    }
    Ok(input)
}

/// Leaves the counters, and the reactions' pending burst, out of an update
/// built from a whole model.
trait WithoutCounters {
    fn without_counters(self) -> Self;
}

impl WithoutCounters for inputs::ActiveModel {
    fn without_counters(mut self) -> Self {
        use sea_orm::ActiveValue::NotSet;
        self.reactions_up = NotSet;
        self.reactions_down = NotSet;
        self.comment_count = NotSet;
        self.vote_count = NotSet;
        self.open_reports = NotSet;
        self.trending = NotSet;
        // Kept by reactions and the coalescer under the row's lock.
        self.reactions_since = NotSet;
        self
    }
}
