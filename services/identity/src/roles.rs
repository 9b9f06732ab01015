//! Platform roles: only admins grant and revoke, every change is recorded
//! and published, and the core team is capped.

use std::collections::HashSet;

use inspraak_kit::auth::PlatformRole;
use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as proto;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, Statement,
};

use crate::access::Caller;
use crate::domain::{Email, UserStatus, role_from_proto};
use crate::error::{Error, Result};
use crate::people::{parse_id, to_proto};
use crate::policy;
use crate::state::State;
use crate::store::entities::{department_members, role_changes, role_grants, users};

/// Serialises changes to the core team across replicas, so two grants at
/// once cannot both take the last seat (SQLite's write transaction already
/// serialises).
async fn lock_core_team(txn: &DatabaseTransaction) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext('inspraak.identity.core_team'))",
        ))
        .await?;
    }
    Ok(())
}

pub async fn admins<C: ConnectionTrait>(db: &C) -> Result<u64> {
    Ok(role_grants::Entity::find()
        .filter(role_grants::Column::Role.eq(PlatformRole::PlatformAdmin.as_str()))
        .count(db)
        .await?)
}

async fn target(txn: &DatabaseTransaction, raw_id: &str) -> Result<users::Model> {
    let id = parse_id("user_id", raw_id)?;
    users::Entity::find_by_id(id)
        .filter(users::Column::Status.ne(UserStatus::Deleted.as_str()))
        .one(txn)
        .await?
        .ok_or(Error::NotFound("user"))
}

async fn bump(txn: &DatabaseTransaction, user: &users::Model, state: &State) -> Result<i64> {
    let version = user.version + 1;
    users::Entity::update_many()
        .col_expr(users::Column::Version, Expr::value(version))
        .col_expr(users::Column::UpdatedAt, Expr::value(state.clock.now()))
        .filter(users::Column::Id.eq(user.id))
        .exec(txn)
        .await?;
    Ok(version)
}

pub async fn grant(
    state: &State,
    caller: &Caller,
    request: &proto::GrantRoleRequest,
) -> Result<proto::User> {
    caller.require_admin()?;
    let role = role_from_proto("role", request.role)?;
    if request.project_reviewer && role != PlatformRole::PlatformAdmin {
        return Err(Error::invalid(
            "project_reviewer",
            "only platform admins can be project reviewers",
        ));
    }
    let policy = policy::current(state).await?.policy;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let user = target(&txn, &request.user_id).await?;
    let domain = Email::parse("email", &user.email)
        .map(|e| e.domain().to_owned())
        .unwrap_or_default();
    if !policy.allows_staff_domain(&domain) {
        return Err(Error::FailedPrecondition(format!(
            "staff roles go only to addresses in {}",
            policy.staff_email_domains.join(", ")
        )));
    }
    lock_core_team(&txn).await?;
    let existing = role_grants::Entity::find_by_id((user.id, role.as_str().to_owned()))
        .one(&txn)
        .await?;
    if let Some(existing) = existing {
        if existing.project_reviewer != request.project_reviewer {
            role_grants::Entity::update_many()
                .col_expr(
                    role_grants::Column::ProjectReviewer,
                    Expr::value(request.project_reviewer),
                )
                .filter(role_grants::Column::UserId.eq(user.id))
                .filter(role_grants::Column::Role.eq(role.as_str()))
                .exec(&txn)
                .await?;
            let version = bump(&txn, &user, state).await?;
            publish_granted(
                state,
                &txn,
                caller,
                &user,
                role,
                request.project_reviewer,
                version,
            )
            .await?;
        }
    } else {
        if role == PlatformRole::PlatformAdmin {
            let cap = u64::from(state.settings.core_team_max);
            if admins(&txn).await? >= cap {
                return Err(Error::FailedPrecondition(format!(
                    "the core team is full: {cap} platform admins at most"
                )));
            }
        }
        let now = state.clock.now();
        role_grants::Entity::insert(role_grants::ActiveModel {
            user_id: Set(user.id),
            role: Set(role.as_str().to_owned()),
            project_reviewer: Set(request.project_reviewer),
            granted_by: Set(caller.audit_name()),
            granted_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        record(&txn, &user, role, true, caller, state).await?;
        let version = bump(&txn, &user, state).await?;
        publish_granted(
            state,
            &txn,
            caller,
            &user,
            role,
            request.project_reviewer,
            version,
        )
        .await?;
    }
    let updated = users::Entity::find_by_id(user.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let view = to_proto(&txn, &updated, state.clock.now()).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

async fn record(
    txn: &DatabaseTransaction,
    user: &users::Model,
    role: PlatformRole,
    granted: bool,
    caller: &Caller,
    state: &State,
) -> Result<()> {
    role_changes::Entity::insert(role_changes::ActiveModel {
        user_id: Set(user.id),
        role: Set(role.as_str().to_owned()),
        granted: Set(granted),
        changed_by: Set(caller.audit_name()),
        changed_at: Set(state.clock.now()),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

async fn publish_granted(
    state: &State,
    txn: &DatabaseTransaction,
    caller: &Caller,
    user: &users::Model,
    role: PlatformRole,
    project_reviewer: bool,
    version: i64,
) -> Result<()> {
    state
        .publish(
            txn,
            "identity.role.granted.v1",
            "user",
            user.id,
            version,
            &events::RoleGranted {
                user_id: user.id.to_string(),
                role: role.as_str().to_owned(),
                project_reviewer,
                granted_by: caller.audit_name(),
            },
        )
        .await
}

pub async fn revoke(
    state: &State,
    caller: &Caller,
    request: &proto::RevokeRoleRequest,
) -> Result<proto::User> {
    caller.require_admin()?;
    let role = role_from_proto("role", request.role)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let user = target(&txn, &request.user_id).await?;
    lock_core_team(&txn).await?;
    let existing = role_grants::Entity::find_by_id((user.id, role.as_str().to_owned()))
        .one(&txn)
        .await?;
    if existing.is_some() {
        if role == PlatformRole::PlatformAdmin && admins(&txn).await? <= 1 {
            return Err(Error::FailedPrecondition(
                "the platform needs at least one platform admin".to_owned(),
            ));
        }
        role_grants::Entity::delete_by_id((user.id, role.as_str().to_owned()))
            .exec(&txn)
            .await?;
        record(&txn, &user, role, false, caller, state).await?;
        let version = bump(&txn, &user, state).await?;
        state
            .publish(
                &txn,
                "identity.role.revoked.v1",
                "user",
                user.id,
                version,
                &events::RoleRevoked {
                    user_id: user.id.to_string(),
                    role: role.as_str().to_owned(),
                    revoked_by: caller.audit_name(),
                },
            )
            .await?;
    }
    let updated = users::Entity::find_by_id(user.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let view = to_proto(&txn, &updated, state.clock.now()).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

/// The core team and what needs the platform's attention.
pub async fn overview(state: &State, caller: &Caller) -> Result<proto::GovernanceOverview> {
    caller.require_admin()?;
    let grants = role_grants::Entity::find().all(&state.db).await?;
    let count =
        |role: PlatformRole| grants.iter().filter(|g| g.role == role.as_str()).count() as u32;
    let admin_grants: Vec<&role_grants::Model> = grants
        .iter()
        .filter(|g| g.role == PlatformRole::PlatformAdmin.as_str())
        .collect();
    let admin_ids: Vec<uuid::Uuid> = admin_grants.iter().map(|g| g.user_id).collect();
    let team = users::Entity::find()
        .filter(users::Column::Id.is_in(admin_ids.clone()))
        .all(&state.db)
        .await?;
    let departments: HashSet<uuid::Uuid> = department_members::Entity::find()
        .filter(department_members::Column::UserId.is_in(admin_ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|m| m.department_id)
        .collect();
    let reviewers = admin_grants.iter().filter(|g| g.project_reviewer).count() as u32;
    let cap = state.settings.core_team_max;
    let size = team.len() as u32;
    let mut warnings = Vec::new();
    let mut warn = |code: &str, message: String| {
        warnings.push(proto::GovernanceWarning {
            code: code.to_owned(),
            message,
        })
    };
    if size < 2 {
        warn(
            "core_team_too_small",
            format!("the core team has {size} member(s); a continuous team needs at least 2"),
        );
    }
    if size >= cap {
        warn(
            "core_team_full",
            format!("the core team is at its cap of {cap}"),
        );
    }
    if size > 0 && reviewers == 0 {
        warn(
            "no_project_reviewer",
            "no core-team member reviews project proposals".to_owned(),
        );
    }
    if size >= 2 && departments.len() < 2 {
        warn(
            "core_team_single_department",
            "the core team draws on fewer than two departments".to_owned(),
        );
    }
    if count(PlatformRole::CommunicationOfficer) == 0 {
        warn(
            "no_communication_officer",
            "no communication officer is appointed".to_owned(),
        );
    }
    if count(PlatformRole::DecisionMaker) == 0 {
        warn(
            "no_decision_maker",
            "no decision-maker receives the periodic report".to_owned(),
        );
    }
    let core_team = crate::people::to_protos(&state.db, &team, state.clock.now()).await?;
    Ok(proto::GovernanceOverview {
        core_team,
        core_team_cap: cap,
        communication_officers: count(PlatformRole::CommunicationOfficer),
        decision_makers: count(PlatformRole::DecisionMaker),
        project_reviewers: reviewers,
        departments_in_core_team: departments.len() as u32,
        warnings,
    })
}
