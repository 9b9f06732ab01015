//! Phases: creating, changing and removing them without breaking the
//! timeline or the input already collected.

use inspraak_proto::projects::v1 as proto;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use crate::access::Caller;
use crate::domain::phase::{Method, Permissions, Window, check_timeline};
use crate::domain::{Text, parse_time, parse_uuid};
use crate::error::{Error, Result};
use crate::projects::{ARCHIVED, etag, phases_of, save_and_publish};
use crate::settings_store;
use crate::state::State;
use crate::store::entities::{phases, projects};

struct ParsedPhase {
    title: Text,
    description: Text,
    window: Window,
    method: Method,
    permissions: Permissions,
}

fn parse(phase: &proto::Phase, locales: &[String], others: &[Window]) -> Result<ParsedPhase> {
    let mut v = Vec::new();
    let title = Text::parse(
        "phase.title",
        phase.title.as_ref(),
        locales,
        200,
        true,
        &mut v,
    );
    let description = Text::parse(
        "phase.description",
        phase.description.as_ref(),
        locales,
        20_000,
        false,
        &mut v,
    );
    let starts_at = parse_time("phase.starts_at", phase.starts_at.as_ref(), &mut v);
    if phase.starts_at.is_none() {
        v.push(inspraak_kit::grpc::FieldViolation::new(
            "phase.starts_at",
            "is required",
        ));
    }
    let ends_at = parse_time("phase.ends_at", phase.ends_at.as_ref(), &mut v);
    let method = Method::parse("phase.method", phase.method.as_ref(), &mut v);
    let permissions = Permissions::parse("phase.permissions", phase.permissions.as_ref(), &mut v);
    if let Some(starts_at) = starts_at {
        check_timeline("phase", &Window { starts_at, ends_at }, others, &mut v);
    }
    match (v.is_empty(), starts_at, method) {
        (true, Some(starts_at), Some(method)) => Ok(ParsedPhase {
            title,
            description,
            window: Window { starts_at, ends_at },
            method,
            permissions,
        }),
        _ => Err(Error::Invalid(v)),
    }
}

/// A published project whose phases had all ended becomes active again when
/// a phase is added or extended into the future: that must fit under the cap
/// like a publication.
async fn keep_under_cap(
    state: &State,
    txn: &sea_orm::DatabaseTransaction,
    project: &projects::Model,
    before: &[Window],
    after: &[Window],
) -> Result<()> {
    let now = state.clock.now();
    let open = |windows: &[Window]| {
        windows
            .iter()
            .any(|w| w.ends_at.is_none_or(|end| end > now))
    };
    if project.state == crate::projects::PUBLISHED && !open(before) && open(after) {
        crate::projects::lock_publishing(txn).await?;
        crate::projects::ensure_room(txn, project.id, now).await?;
    }
    Ok(())
}

fn windows(phases: &[phases::Model], except: Option<Uuid>) -> Vec<Window> {
    phases
        .iter()
        .filter(|p| Some(p.id) != except)
        .map(|p| Window {
            starts_at: p.starts_at,
            ends_at: p.ends_at,
        })
        .collect()
}

async fn editable(state: &State, caller: &Caller<'_>, raw_id: &str) -> Result<(Uuid, Vec<String>)> {
    let id = parse_uuid("project_id", raw_id)?;
    caller.require_manager(&state.db, id).await?;
    let locales = settings_store::current(&state.db).await?.settings.locales;
    Ok((id, locales))
}

pub async fn create(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::CreatePhaseRequest,
) -> Result<proto::Project> {
    let (id, locales) = editable(state, caller, &request.project_id).await?;
    let phase = request
        .phase
        .as_ref()
        .ok_or_else(|| Error::invalid("phase", "is required"))?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if project.state == ARCHIVED {
        return Err(Error::FailedPrecondition(
            "an archived project takes no new phases".to_owned(),
        ));
    }
    let existing = phases_of(&txn, id).await?;
    let parsed = parse(phase, &locales, &windows(&existing, None))?;
    let mut after = windows(&existing, None);
    after.push(parsed.window);
    keep_under_cap(state, &txn, &project, &windows(&existing, None), &after).await?;
    phases::Entity::insert(phases::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(id),
        title: Set(parsed.title.to_json()),
        description: Set(parsed.description.to_json()),
        starts_at: Set(parsed.window.starts_at),
        ends_at: Set(parsed.window.ends_at),
        method: Set(
            serde_json::to_value(&parsed.method).map_err(|e| Error::Internal(e.to_string()))?
        ),
        permissions: Set(
            serde_json::to_value(parsed.permissions).map_err(|e| Error::Internal(e.to_string()))?
        ),
        has_input: Set(false),
        created_at: Set(state.clock.now()),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
    save_and_publish(state, txn, project, "projects.phase.created.v1").await
}

pub async fn update(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UpdatePhaseRequest,
) -> Result<proto::Project> {
    let (id, locales) = editable(state, caller, &request.project_id).await?;
    let phase = request
        .phase
        .as_ref()
        .ok_or_else(|| Error::invalid("phase", "is required"))?;
    let phase_id = parse_uuid("phase.id", &phase.id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if !request.etag.is_empty() && request.etag != etag(&project) {
        return Err(Error::Aborted(
            "the project changed since it was read; read it again".to_owned(),
        ));
    }
    let existing = phases_of(&txn, id).await?;
    let current = existing
        .iter()
        .find(|p| p.id == phase_id)
        .ok_or(Error::NotFound("phase"))?
        .clone();
    let parsed = parse(phase, &locales, &windows(&existing, Some(phase_id)))?;
    let mut after = windows(&existing, Some(phase_id));
    after.push(parsed.window);
    keep_under_cap(state, &txn, &project, &windows(&existing, None), &after).await?;
    let current_method: Option<Method> = serde_json::from_value(current.method.clone()).ok();
    if current.has_input && current_method.as_ref() != Some(&parsed.method) {
        return Err(Error::FailedPrecondition(
            "residents have contributed under this phase's method: it cannot change".to_owned(),
        ));
    }
    if current.has_input && parsed.window.starts_at > current.starts_at {
        return Err(Error::FailedPrecondition(
            "residents have contributed in this phase: its start cannot move later".to_owned(),
        ));
    }
    let mut active = current.into_active_model();
    active.title = Set(parsed.title.to_json());
    active.description = Set(parsed.description.to_json());
    active.starts_at = Set(parsed.window.starts_at);
    active.ends_at = Set(parsed.window.ends_at);
    active.method =
        Set(serde_json::to_value(&parsed.method).map_err(|e| Error::Internal(e.to_string()))?);
    active.permissions =
        Set(serde_json::to_value(parsed.permissions).map_err(|e| Error::Internal(e.to_string()))?);
    phases::Entity::update(active).exec(&txn).await?;
    save_and_publish(state, txn, project, "projects.phase.changed.v1").await
}

pub async fn delete(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::DeletePhaseRequest,
) -> Result<proto::Project> {
    let (id, _) = editable(state, caller, &request.project_id).await?;
    let phase_id = parse_uuid("phase_id", &request.phase_id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let phase = phases::Entity::find_by_id(phase_id)
        .filter(phases::Column::ProjectId.eq(id))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("phase"))?;
    if phase.has_input || phase.starts_at <= state.clock.now() {
        return Err(Error::FailedPrecondition(
            "only a phase that has not started can be removed".to_owned(),
        ));
    }
    phases::Entity::delete_by_id(phase_id).exec(&txn).await?;
    save_and_publish(state, txn, project, "projects.phase.deleted.v1").await
}
