//! Projects: who sees them, how they change state, and the cap on active
//! projects.

use chrono::{DateTime, Utc};
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as proto;
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use uuid::Uuid;

use crate::access::{COMMUNICATION_CONTACT, Caller, MANAGER};
use crate::domain::phase::{Method, Permissions};
use crate::domain::{Text, parse_uuid, timestamp};
use crate::error::{Error, Result};
use crate::settings_store;
use crate::state::State;
use crate::store::entities::{milestones, phases, project_team, project_topics, projects};
use crate::views::{self, Parts};

pub const DRAFT: &str = "draft";
pub const PUBLISHED: &str = "published";
pub const ARCHIVED: &str = "archived";

pub fn etag(project: &projects::Model) -> String {
    format!("project-v{}", project.version)
}

fn state_proto(state: &str) -> i32 {
    (match state {
        PUBLISHED => proto::ProjectState::Published,
        ARCHIVED => proto::ProjectState::Archived,
        _ => proto::ProjectState::Draft,
    }) as i32
}

pub fn visibility_proto(visibility: &str) -> i32 {
    (match visibility {
        "registered" => proto::Visibility::Registered,
        "staff" => proto::Visibility::Staff,
        _ => proto::Visibility::Public,
    }) as i32
}

pub fn parse_visibility(value: i32) -> Result<&'static str> {
    match proto::Visibility::try_from(value) {
        Ok(proto::Visibility::Public) => Ok("public"),
        Ok(proto::Visibility::Registered) => Ok("registered"),
        Ok(proto::Visibility::Staff) => Ok("staff"),
        _ => Err(Error::invalid(
            "visibility",
            "must be PUBLIC, REGISTERED or STAFF",
        )),
    }
}

pub fn phase_proto(phase: &phases::Model) -> proto::Phase {
    let method: Option<Method> = serde_json::from_value(phase.method.clone()).ok();
    let permissions: Option<Permissions> = serde_json::from_value(phase.permissions.clone()).ok();
    proto::Phase {
        id: phase.id.to_string(),
        title: Some(Text::from_json(&phase.title).to_proto()),
        description: Some(Text::from_json(&phase.description).to_proto()),
        starts_at: Some(timestamp(phase.starts_at)),
        ends_at: phase.ends_at.map(timestamp),
        method: method.map(|m| m.to_proto()),
        permissions: permissions.map(|p| p.to_proto()),
    }
}

pub fn milestone_proto(milestone: &milestones::Model) -> proto::Milestone {
    proto::Milestone {
        id: milestone.id.to_string(),
        title: Some(Text::from_json(&milestone.title).to_proto()),
        at: Some(timestamp(milestone.at)),
    }
}

/// Whether the project counts against the cap: published and not past the
/// end of its last phase.
pub fn is_active(project: &projects::Model, phases: &[phases::Model], now: DateTime<Utc>) -> bool {
    project.state == PUBLISHED && phases.iter().any(|p| p.ends_at.is_none_or(|end| end > now))
}

pub async fn phases_of<C: ConnectionTrait>(db: &C, project: Uuid) -> Result<Vec<phases::Model>> {
    Ok(phases::Entity::find()
        .filter(phases::Column::ProjectId.eq(project))
        .order_by_asc(phases::Column::StartsAt)
        .all(db)
        .await?)
}

/// The whole project, as the API and the events carry it.
pub async fn to_proto<C: ConnectionTrait>(
    db: &C,
    project: &projects::Model,
    now: DateTime<Utc>,
) -> Result<proto::Project> {
    let mut views = to_protos(db, std::slice::from_ref(project), now).await?;
    views
        .pop()
        .ok_or_else(|| Error::Internal("a project vanished while it was read".to_owned()))
}

/// Several projects with their phases, milestones and teams, in three
/// queries whatever their number (a page of projects is not N+1 reads).
pub async fn to_protos<C: ConnectionTrait>(
    db: &C,
    projects: &[projects::Model],
    now: DateTime<Utc>,
) -> Result<Vec<proto::Project>> {
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    let parts = views::load(db, &ids).await?;
    let none = Parts::default();
    Ok(projects
        .iter()
        .map(|project| view(project, parts.get(&project.id).unwrap_or(&none), now))
        .collect())
}

/// A project as the API shows it, from its row and its parts.
pub fn view(project: &projects::Model, parts: &Parts, now: DateTime<Utc>) -> proto::Project {
    let topics: Vec<String> = serde_json::from_value(project.topics.clone()).unwrap_or_default();
    proto::Project {
        id: project.id.to_string(),
        title: Some(Text::from_json(&project.title).to_proto()),
        description: Some(Text::from_json(&project.description).to_proto()),
        state: state_proto(&project.state),
        visibility: visibility_proto(&project.visibility),
        folder_id: project.folder_id.map(|f| f.to_string()).unwrap_or_default(),
        department_id: project.department_id.clone(),
        topics,
        team: Some(proto::Team {
            manager_ids: parts
                .team
                .iter()
                .filter(|m| m.role == MANAGER)
                .map(|m| m.user_id.clone())
                .collect(),
            communication_contact_id: parts
                .team
                .iter()
                .find(|m| m.role == COMMUNICATION_CONTACT)
                .map(|m| m.user_id.clone())
                .unwrap_or_default(),
        }),
        active: is_active(project, &parts.phases, now),
        phases: parts.phases.iter().map(phase_proto).collect(),
        milestones: parts.milestones.iter().map(milestone_proto).collect(),
        proposal_id: project
            .proposal_id
            .map(|p| p.to_string())
            .unwrap_or_default(),
        published_at: project.published_at.map(timestamp),
        prescreening: project.prescreening,
        created_at: Some(timestamp(project.created_at)),
        etag: etag(project),
    }
}

/// Whether `caller` may see `project` at all.
pub async fn may_see<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    project: &projects::Model,
) -> Result<bool> {
    let in_team = !caller.is_admin() && !caller.project_roles(db, project.id).await?.is_empty();
    Ok(visible_to(caller, project, in_team))
}

/// Admins and the project's team see it in every state; others only once
/// published, and as its visibility says.
fn visible_to(caller: &Caller<'_>, project: &projects::Model, in_team: bool) -> bool {
    if caller.is_admin() || in_team {
        return true;
    }
    if project.state == DRAFT {
        return false;
    }
    match project.visibility.as_str() {
        "public" => true,
        "registered" => caller.0.is_some(),
        _ => false,
    }
}

/// The project, if the caller may see it; NOT_FOUND otherwise (a hidden
/// project's existence is not revealed).
pub async fn visible<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    id: Uuid,
) -> Result<projects::Model> {
    let project = projects::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if may_see(db, caller, &project).await? {
        Ok(project)
    } else {
        Err(Error::NotFound("project"))
    }
}

/// One project: its row as this replica read it within the max age, or
/// from the database; its parts from the cache when the row's version
/// matches (see `views`); the caller's team roles from those parts.
pub async fn get(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Project> {
    let id = parse_uuid("id", id)?;
    let project = state
        .views
        .row(&state.db, id)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let parts = state.views.parts(&state.db, &project).await?;
    let in_team = caller
        .subject()
        .is_some_and(|subject| parts.roles_of(subject).next().is_some());
    if !visible_to(caller, &project, in_team) {
        return Err(Error::NotFound("project"));
    }
    Ok(view(&project, &parts, state.clock.now()))
}

const MAX_PAGE: u64 = 100;

pub async fn list(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListProjectsRequest,
) -> Result<proto::ListProjectsResponse> {
    let page_size = match request.page_size {
        0 => 20,
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => Ord::min(u64::try_from(n).unwrap_or(MAX_PAGE), MAX_PAGE),
    };
    let mut query = projects::Entity::find().order_by_asc(projects::Column::Id);
    if !request.page_token.is_empty() {
        query =
            query.filter(projects::Column::Id.gt(parse_uuid("page_token", &request.page_token)?));
    }
    match proto::ProjectState::try_from(request.state) {
        Ok(proto::ProjectState::Unspecified) => {}
        Ok(proto::ProjectState::Draft) => query = query.filter(projects::Column::State.eq(DRAFT)),
        Ok(proto::ProjectState::Published) => {
            query = query.filter(projects::Column::State.eq(PUBLISHED))
        }
        Ok(proto::ProjectState::Archived) => {
            query = query.filter(projects::Column::State.eq(ARCHIVED))
        }
        Err(_) => return Err(Error::invalid("state", "is not a project state")),
    }
    if !request.folder_id.is_empty() {
        query = query
            .filter(projects::Column::FolderId.eq(parse_uuid("folder_id", &request.folder_id)?));
    }
    if !request.department_id.is_empty() {
        query = query.filter(projects::Column::DepartmentId.eq(request.department_id.clone()));
    }
    if !request.topic.is_empty() {
        query = query.filter(
            projects::Column::Id.in_subquery(
                Query::select()
                    .column(project_topics::Column::ProjectId)
                    .from(project_topics::Entity)
                    .and_where(
                        Expr::col(project_topics::Column::Topic)
                            .eq(request.topic.trim().to_lowercase()),
                    )
                    .to_owned(),
            ),
        );
    }
    if request.active_only {
        let now = state.clock.now();
        query = query.filter(projects::Column::State.eq(PUBLISHED)).filter(
            projects::Column::Id.in_subquery(
                Query::select()
                    .column(phases::Column::ProjectId)
                    .from(phases::Entity)
                    .cond_where(
                        Condition::any()
                            .add(Expr::col(phases::Column::EndsAt).is_null())
                            .add(Expr::col(phases::Column::EndsAt).gt(now)),
                    )
                    .to_owned(),
            ),
        );
    }
    // What the caller may see, in the query itself so pages stay full.
    if !caller.is_admin() {
        let mut visible = Condition::all().add(projects::Column::State.ne(DRAFT));
        visible = if caller.0.is_some() {
            visible.add(projects::Column::Visibility.is_in(["public", "registered"]))
        } else {
            visible.add(projects::Column::Visibility.eq("public"))
        };
        let mut either = Condition::any().add(visible);
        if let Some(subject) = caller.subject() {
            either = either.add(
                projects::Column::Id.in_subquery(
                    Query::select()
                        .column(project_team::Column::ProjectId)
                        .from(project_team::Entity)
                        .and_where(Expr::col(project_team::Column::UserId).eq(subject))
                        .to_owned(),
                ),
            );
        }
        query = query.filter(either);
    }
    let rows = query.limit(page_size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > page_size;
    let page: Vec<projects::Model> = rows.iter().take(page_size as usize).cloned().collect();
    let projects = to_protos(&state.db, &page, state.clock.now()).await?;
    Ok(proto::ListProjectsResponse {
        next_page_token: if more {
            page.last().map(|p| p.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        projects,
    })
}

fn parse_topics(topics: &[String]) -> Result<Vec<String>> {
    let mut parsed: Vec<String> = Vec::new();
    for (i, topic) in topics.iter().enumerate() {
        let topic = topic.trim().to_lowercase();
        if topic.is_empty() || topic.chars().count() > 50 {
            return Err(Error::invalid(
                &format!("topics[{i}]"),
                "must be 1 to 50 characters",
            ));
        }
        if !parsed.contains(&topic) {
            parsed.push(topic);
        }
    }
    if parsed.len() > 20 {
        return Err(Error::invalid("topics", "at most 20 topics"));
    }
    Ok(parsed)
}

pub async fn set_topics<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    topics: &[String],
) -> Result<()> {
    project_topics::Entity::delete_many()
        .filter(project_topics::Column::ProjectId.eq(project))
        .exec(db)
        .await?;
    for topic in topics {
        project_topics::Entity::insert(project_topics::ActiveModel {
            project_id: Set(project),
            topic: Set(topic.clone()),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Saves a changed project with the next version and publishes it.
pub async fn save_and_publish(
    state: &State,
    txn: DatabaseTransaction,
    mut project: projects::Model,
    event_type: &str,
) -> Result<proto::Project> {
    project.version += 1;
    project.updated_at = state.clock.now();
    let changed = projects::Entity::update_many()
        // Every column written: the model was changed in memory.
        .set(project.clone().into_active_model().reset_all())
        .filter(projects::Column::Id.eq(project.id))
        .filter(projects::Column::Version.eq(project.version - 1))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(Error::Aborted(
            "the project changed meanwhile; read it again".to_owned(),
        ));
    }
    let view = to_proto(&txn, &project, state.clock.now()).await?;
    state
        .publish(
            &txn,
            event_type,
            "project",
            project.id,
            project.version,
            &events::ProjectChanged {
                project: Some(view.clone()),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    state.views.forget(project.id);
    Ok(view)
}

pub async fn update(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UpdateProjectRequest,
) -> Result<proto::Project> {
    let id = parse_uuid("id", &request.id)?;
    caller.require_manager(&state.db, id).await?;
    if request.update_mask.is_empty() {
        return Err(Error::invalid("update_mask", "name the fields to change"));
    }
    let locales = settings_store::current(&state.db).await?.settings.locales;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if !request.etag.is_empty() && request.etag != etag(&project) {
        return Err(Error::Aborted(
            "the project changed since it was read; read it again".to_owned(),
        ));
    }
    let mut v = Vec::new();
    for path in &request.update_mask {
        match path.as_str() {
            "title" => {
                project.title =
                    Text::parse("title", request.title.as_ref(), &locales, 200, true, &mut v)
                        .to_json()
            }
            "description" => {
                project.description = Text::parse(
                    "description",
                    request.description.as_ref(),
                    &locales,
                    20_000,
                    false,
                    &mut v,
                )
                .to_json()
            }
            "folder_id" => {
                project.folder_id = if request.folder_id.is_empty() {
                    None
                } else {
                    let folder = parse_uuid("folder_id", &request.folder_id)?;
                    crate::content::folder_exists(&txn, folder).await?;
                    Some(folder)
                }
            }
            "visibility" => project.visibility = parse_visibility(request.visibility)?.to_owned(),
            "department_id" => {
                if request.department_id.trim().is_empty() {
                    v.push(inspraak_kit::grpc::FieldViolation::new(
                        "department_id",
                        "is required",
                    ));
                }
                project.department_id = request.department_id.trim().to_owned();
            }
            "topics" => {
                let topics = parse_topics(&request.topics)?;
                set_topics(&txn, id, &topics).await?;
                project.topics = serde_json::json!(topics);
            }
            "prescreening" => project.prescreening = request.prescreening,
            other => v.push(inspraak_kit::grpc::FieldViolation::new(
                "update_mask",
                format!("{other:?} cannot be changed here"),
            )),
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    save_and_publish(state, txn, project, "projects.project.changed.v1").await
}

/// Serialises publishing across replicas so that concurrent publishes cannot
/// slip past the cap (SQLite's write transaction already serialises).
pub async fn lock_publishing(txn: &DatabaseTransaction) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext('inspraak.projects.publish'))",
        ))
        .await?;
    }
    Ok(())
}

pub async fn publish(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Project> {
    caller.require_admin()?;
    let id = parse_uuid("id", id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    lock_publishing(&txn).await?;
    let mut project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if project.state != DRAFT {
        return Err(Error::FailedPrecondition(format!(
            "only a draft can be published; this project is {}",
            project.state
        )));
    }
    let now = state.clock.now();
    let own_phases = phases_of(&txn, id).await?;
    if own_phases.is_empty() {
        return Err(Error::FailedPrecondition(
            "a project needs at least one phase to be published".to_owned(),
        ));
    }
    project.state = PUBLISHED.to_owned();
    if is_active(&project, &own_phases, now) {
        ensure_room(&txn, id, now).await?;
    }
    project.published_at = Some(now);
    save_and_publish(state, txn, project, "projects.project.published.v1").await
}

/// Refuses (FAILED_PRECONDITION, naming them) when the active projects
/// other than `project` already fill the cap. Call within the transaction
/// that makes `project` active, after [`lock_publishing`].
pub async fn ensure_room(
    txn: &DatabaseTransaction,
    project: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let settings = settings_store::current(txn).await?.settings;
    let cap = settings.max_active_projects as usize;
    let default_locale = settings.locales.first().cloned().unwrap_or_default();
    let active: Vec<projects::Model> = active_projects(txn, now)
        .await?
        .into_iter()
        .filter(|p| p.id != project)
        .collect();
    if active.len() < cap {
        return Ok(());
    }
    let names: Vec<String> = active
        .iter()
        .map(|p| {
            let title = Text::from_json(&p.title);
            let title = title
                .resolve(&default_locale, &default_locale)
                .unwrap_or("untitled");
            format!("{title:?} ({})", p.id)
        })
        .collect();
    Err(Error::FailedPrecondition(format!(
        "the platform allows {cap} active projects and has {}: {}",
        active.len(),
        names.join(", ")
    )))
}

/// Published projects whose last phase has not ended.
pub async fn active_projects<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<projects::Model>> {
    Ok(projects::Entity::find()
        .filter(projects::Column::State.eq(PUBLISHED))
        .filter(
            projects::Column::Id.in_subquery(
                Query::select()
                    .column(phases::Column::ProjectId)
                    .from(phases::Entity)
                    .cond_where(
                        Condition::any()
                            .add(Expr::col(phases::Column::EndsAt).is_null())
                            .add(Expr::col(phases::Column::EndsAt).gt(now)),
                    )
                    .to_owned(),
            ),
        )
        .order_by_asc(projects::Column::PublishedAt)
        .all(db)
        .await?)
}

pub async fn unpublish(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Project> {
    caller.require_admin()?;
    let id = parse_uuid("id", id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if project.state != PUBLISHED {
        return Err(Error::FailedPrecondition(
            "only a published project can go back to draft".to_owned(),
        ));
    }
    if project.has_input {
        return Err(Error::FailedPrecondition(
            "residents have contributed to this project: it can be archived, not taken back to draft".to_owned(),
        ));
    }
    project.state = DRAFT.to_owned();
    project.published_at = None;
    save_and_publish(state, txn, project, "projects.project.unpublished.v1").await
}

pub async fn archive(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Project> {
    caller.require_admin()?;
    let id = parse_uuid("id", id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let mut project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    if project.state == ARCHIVED {
        return Err(Error::FailedPrecondition(
            "the project is already archived".to_owned(),
        ));
    }
    project.state = ARCHIVED.to_owned();
    save_and_publish(state, txn, project, "projects.project.archived.v1").await
}

pub async fn set_team(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::SetProjectTeamRequest,
) -> Result<proto::Project> {
    caller.require_admin()?;
    let id = parse_uuid("project_id", &request.project_id)?;
    let team = request.team.clone().unwrap_or_default();
    let mut managers = Vec::new();
    for (i, manager) in team.manager_ids.iter().enumerate() {
        let manager = parse_uuid(&format!("team.manager_ids[{i}]"), manager)?.to_string();
        if !managers.contains(&manager) {
            managers.push(manager);
        }
    }
    if managers.is_empty() {
        return Err(Error::invalid(
            "team.manager_ids",
            "a project needs at least one manager",
        ));
    }
    let contact = if team.communication_contact_id.is_empty() {
        None
    } else {
        Some(
            parse_uuid(
                "team.communication_contact_id",
                &team.communication_contact_id,
            )?
            .to_string(),
        )
    };
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    write_team(&txn, id, &managers, contact.as_deref()).await?;
    save_and_publish(state, txn, project, "projects.team.changed.v1").await
}

pub async fn write_team<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    managers: &[String],
    contact: Option<&str>,
) -> Result<()> {
    project_team::Entity::delete_many()
        .filter(project_team::Column::ProjectId.eq(project))
        .exec(db)
        .await?;
    let members = managers
        .iter()
        .map(|m| (m.as_str(), MANAGER))
        .chain(contact.map(|c| (c, COMMUNICATION_CONTACT)));
    for (user, role) in members {
        project_team::Entity::insert(project_team::ActiveModel {
            project_id: Set(project),
            user_id: Set(user.to_owned()),
            role: Set(role.to_owned()),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}
