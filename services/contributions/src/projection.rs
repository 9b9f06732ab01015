//! Contributions' copy of the project facts it needs — states, visibility,
//! teams, phases with their windows, methods and permissions, and the
//! charter's answer target and moderation threshold — kept from projects'
//! events, so that contributions keeps working while projects is down.

use inspraak_bus::{EventHandler, HandlerError, decode_payload};
use inspraak_kit::clock::from_timestamp as time;
use inspraak_proto::events::v1::{Envelope, ProjectChanged, SettingsChanged};
use inspraak_proto::projects::v1 as projects;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::access::{COMMUNICATION_CONTACT, MANAGER};
use crate::error::Result;
use crate::store::entities::{charter, projected_phases, projected_projects, projected_team};

/// The consumer's queue purpose.
pub const PURPOSE: &str = "projection";

/// Every projects event that carries a project or the settings. Events
/// without one (time reached, updates) fall under these patterns too and are
/// skipped by type.
pub const BINDINGS: &[&str] = &[
    "projects.project.#",
    "projects.phase.#",
    "projects.team.#",
    "projects.milestone.#",
    "projects.settings.#",
];

/// The charter's answer target until projects has said otherwise.
pub const DEFAULT_ANSWER_TARGET_DAYS: i64 = 14;
/// The charter's moderation threshold until projects has said otherwise.
pub const DEFAULT_MODERATION_THRESHOLD: i64 = 5;

pub struct ProjectProjection;

impl EventHandler for ProjectProjection {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let version = i64::try_from(event.aggregate_version).unwrap_or(i64::MAX);
        match event.r#type.as_str() {
            "projects.settings.changed.v1" => {
                let changed: SettingsChanged =
                    decode_payload(event).map_err(HandlerError::Reject)?;
                let settings = changed.settings.unwrap_or_default();
                let charter = settings.charter.unwrap_or_default();
                let version = i64::try_from(settings.version)
                    .unwrap_or(version)
                    .max(version);
                apply_charter(txn, &charter, version).await?;
            }
            // These carry a phase or milestone moment, not the project.
            "projects.phase.started.v1"
            | "projects.phase.ending_soon.v1"
            | "projects.phase.ended.v1"
            | "projects.milestone.approaching.v1" => {}
            kind if carries_project(kind) => {
                let changed: ProjectChanged =
                    decode_payload(event).map_err(HandlerError::Reject)?;
                let project = changed
                    .project
                    .ok_or_else(|| HandlerError::Reject("the event has no project".to_owned()))?;
                let id = Uuid::parse_str(&project.id)
                    .map_err(|_| HandlerError::Reject(format!("project id {:?}", project.id)))?;
                apply_project(txn, id, &project, version).await?;
            }
            other => tracing::debug!(event_type = other, "not for the projection"),
        }
        Ok(())
    }
}

fn carries_project(event_type: &str) -> bool {
    [
        "projects.project.",
        "projects.phase.",
        "projects.team.",
        "projects.milestone.",
    ]
    .iter()
    .any(|prefix| event_type.starts_with(prefix))
}

async fn apply_charter(
    txn: &DatabaseTransaction,
    charter: &projects::GovernanceCharter,
    version: i64,
) -> Result<(), sea_orm::DbErr> {
    let row = charter::ActiveModel {
        id: Set(1),
        answer_target_days: Set(i64::from(charter.answer_target_days)),
        moderation_threshold: Set(i64::from(charter.moderation_threshold)),
        version: Set(version),
    };
    let newer = || {
        charter::Entity::update_many()
            .set(row.clone())
            .filter(charter::Column::Id.eq(1))
            .filter(charter::Column::Version.lte(version))
    };
    if newer().exec(txn).await?.rows_affected == 0 {
        let inserted = charter::Entity::insert(row.clone())
            .on_conflict(
                OnConflict::column(charter::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        if inserted == 0 {
            // Stored meanwhile, or newer: the conditional update decides.
            newer().exec(txn).await?;
        }
    }
    Ok(())
}

/// The charter's answer target in days and moderation threshold.
pub async fn charter<C: ConnectionTrait>(db: &C) -> Result<(i64, i64)> {
    Ok(match charter::Entity::find_by_id(1).one(db).await? {
        Some(c) => (c.answer_target_days, c.moderation_threshold),
        None => (DEFAULT_ANSWER_TARGET_DAYS, DEFAULT_MODERATION_THRESHOLD),
    })
}

fn state_name(value: i32) -> &'static str {
    match projects::ProjectState::try_from(value) {
        Ok(projects::ProjectState::Published) => "published",
        Ok(projects::ProjectState::Archived) => "archived",
        _ => "draft",
    }
}

fn visibility_name(value: i32) -> &'static str {
    match projects::Visibility::try_from(value) {
        Ok(projects::Visibility::Public) => "public",
        Ok(projects::Visibility::Registered) => "registered",
        // Unknown means the narrowest.
        _ => "staff",
    }
}

pub fn permission_name(value: i32) -> &'static str {
    match projects::Permission::try_from(value) {
        Ok(projects::Permission::Everyone) => "everyone",
        Ok(projects::Permission::Registered) => "registered",
        Ok(projects::Permission::ConfirmedEmail) => "confirmed_email",
        Ok(projects::Permission::Verified) => "verified",
        // Unknown means the narrowest.
        _ => "admins_and_managers",
    }
}

/// What the phase's method asks, as the projection keeps it.
#[derive(Debug, Default, PartialEq, Eq)]
struct MethodSettings {
    dislikes: bool,
    support_threshold: i64,
    expiry_days: i64,
    vote_kind: &'static str,
    max_votes: i64,
    total_budget: i64,
}

fn method_settings(method: Option<&projects::ParticipationMethod>) -> MethodSettings {
    use projects::participation_method::Method;
    use projects::voting::Kind;
    match method.and_then(|m| m.method.as_ref()) {
        Some(Method::Ideation(ideation)) => MethodSettings {
            dislikes: ideation.dislikes,
            ..MethodSettings::default()
        },
        Some(Method::Proposals(proposals)) => MethodSettings {
            support_threshold: i64::from(proposals.support_threshold),
            expiry_days: i64::from(proposals.expiry_days),
            ..MethodSettings::default()
        },
        Some(Method::Voting(voting)) => match &voting.kind {
            Some(Kind::Multiple(multiple)) => MethodSettings {
                vote_kind: "multiple",
                max_votes: i64::from(multiple.max_votes),
                ..MethodSettings::default()
            },
            Some(Kind::Budget(budget)) => MethodSettings {
                vote_kind: "budget",
                total_budget: i64::try_from(budget.total_budget).unwrap_or(i64::MAX),
                ..MethodSettings::default()
            },
            Some(Kind::Single(_)) | None => MethodSettings {
                vote_kind: "single",
                max_votes: 1,
                ..MethodSettings::default()
            },
        },
        _ => MethodSettings::default(),
    }
}

fn method_name(method: Option<&projects::ParticipationMethod>) -> &'static str {
    use projects::participation_method::Method;
    match method.and_then(|m| m.method.as_ref()) {
        Some(Method::Ideation(_)) => "ideation",
        Some(Method::Proposals(_)) => "proposals",
        Some(Method::Voting(_)) => "voting",
        Some(Method::Poll(_)) => "poll",
        Some(Method::Information(_)) | None => "information",
    }
}

/// Replaces the stored copy of `project` unless a newer one is stored
/// already (events may arrive out of order).
async fn apply_project(
    txn: &DatabaseTransaction,
    id: Uuid,
    project: &projects::Project,
    version: i64,
) -> Result<(), sea_orm::DbErr> {
    // A conditional update, not read-then-write: on PostgreSQL it takes the
    // row's lock and re-checks the version once a concurrent handler of a
    // newer event commits, so an older event can never win a race.
    let row = projected_projects::ActiveModel {
        id: Set(id),
        state: Set(state_name(project.state).to_owned()),
        visibility: Set(visibility_name(project.visibility).to_owned()),
        version: Set(version),
        prescreening: Set(project.prescreening),
    };
    let newer = || {
        projected_projects::Entity::update_many()
            .set(row.clone())
            .filter(projected_projects::Column::Id.eq(id))
            .filter(projected_projects::Column::Version.lte(version))
    };
    if newer().exec(txn).await?.rows_affected == 0 {
        let inserted = projected_projects::Entity::insert(row.clone())
            .on_conflict(
                OnConflict::column(projected_projects::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        if inserted == 0 && newer().exec(txn).await?.rows_affected == 0 {
            tracing::debug!(project = %id, version, "ignoring an older project");
            return Ok(());
        }
    }

    projected_team::Entity::delete_many()
        .filter(projected_team::Column::ProjectId.eq(id))
        .exec(txn)
        .await?;
    let team = project.team.clone().unwrap_or_default();
    let mut members: Vec<(String, &str)> = Vec::new();
    for manager in &team.manager_ids {
        if !members.iter().any(|(m, _)| m == manager) {
            members.push((manager.clone(), MANAGER));
        }
    }
    if !team.communication_contact_id.is_empty() {
        members.push((team.communication_contact_id.clone(), COMMUNICATION_CONTACT));
    }
    for (user, role) in members {
        projected_team::Entity::insert(projected_team::ActiveModel {
            project_id: Set(id),
            user_id: Set(user),
            role: Set(role.to_owned()),
        })
        .exec_without_returning(txn)
        .await?;
    }

    projected_phases::Entity::delete_many()
        .filter(projected_phases::Column::ProjectId.eq(id))
        .exec(txn)
        .await?;
    for phase in &project.phases {
        let (Ok(phase_id), Some(starts_at)) =
            (Uuid::parse_str(&phase.id), time(phase.starts_at.as_ref()))
        else {
            tracing::warn!(project = %id, phase = %phase.id, "skipping a phase without id or start");
            continue;
        };
        let permissions = phase.permissions.unwrap_or_default();
        let settings = method_settings(phase.method.as_ref());
        projected_phases::Entity::insert(projected_phases::ActiveModel {
            id: Set(phase_id),
            project_id: Set(id),
            starts_at: Set(starts_at),
            ends_at: Set(time(phase.ends_at.as_ref())),
            method: Set(method_name(phase.method.as_ref()).to_owned()),
            post: Set(permission_name(permissions.post).to_owned()),
            comment: Set(permission_name(permissions.comment).to_owned()),
            react: Set(permission_name(permissions.react).to_owned()),
            vote: Set(permission_name(permissions.vote).to_owned()),
            dislikes: Set(settings.dislikes),
            support_threshold: Set(settings.support_threshold),
            expiry_days: Set(settings.expiry_days),
            vote_kind: Set(settings.vote_kind.to_owned()),
            max_votes: Set(settings.max_votes),
            total_budget: Set(settings.total_budget),
        })
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}
