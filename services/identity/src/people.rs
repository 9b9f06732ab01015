//! People: profiles, the admin's view of accounts, blocking, deleting and
//! exporting one's own data.

use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as proto;
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::accounts::{revoke_all_sessions, timestamp};
use crate::domain::fields::{FieldAnswer, check_answers};
use crate::domain::{DisplayName, Locale, Password, UserStatus, role_to_proto};
use crate::error::{Error, Result};
use crate::policy;
use crate::state::State;
use crate::store::entities::{
    credentials, department_members, one_time_codes, refresh_tokens, role_changes, role_grants,
    users,
};

/// The status as it stands at `now`: a block with an expiry ends by itself.
pub fn effective_status(user: &users::Model, now: chrono::DateTime<chrono::Utc>) -> UserStatus {
    match UserStatus::parse(&user.status) {
        UserStatus::Blocked if user.blocked_until.is_some_and(|until| until <= now) => {
            UserStatus::Active
        }
        status => status,
    }
}

pub fn etag(user: &users::Model) -> String {
    format!("user-v{}", user.version)
}

/// The full view of an account (its owner, admins, services).
pub async fn to_proto<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<proto::User> {
    let mut views = to_protos(db, std::slice::from_ref(user), now).await?;
    views
        .pop()
        .ok_or_else(|| Error::Internal("a user vanished while read".to_owned()))
}

/// Several accounts with their roles and departments, in two queries
/// whatever their number.
pub async fn to_protos<C: ConnectionTrait>(
    db: &C,
    users: &[users::Model],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<proto::User>> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let grants = role_grants::Entity::find()
        .filter(role_grants::Column::UserId.is_in(ids.clone()))
        .all(db)
        .await?;
    let departments = department_members::Entity::find()
        .filter(department_members::Column::UserId.is_in(ids))
        .all(db)
        .await?;
    Ok(users
        .iter()
        .map(|user| {
            let blocked = effective_status(user, now) == UserStatus::Blocked;
            let fields: std::collections::BTreeMap<String, FieldAnswer> =
                serde_json::from_value(user.fields.clone()).unwrap_or_default();
            proto::User {
                id: user.id.to_string(),
                email: user.email.clone(),
                email_confirmed: user.email_confirmed_at.is_some(),
                display_name: user.display_name.clone(),
                locale: user.locale.clone(),
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_proto()))
                    .collect(),
                status: match effective_status(user, now) {
                    UserStatus::Active => proto::UserStatus::Active as i32,
                    UserStatus::Blocked => proto::UserStatus::Blocked as i32,
                    UserStatus::Deleted => proto::UserStatus::Deleted as i32,
                },
                roles: grants
                    .iter()
                    .filter(|grant| grant.user_id == user.id)
                    .filter_map(|grant| {
                        let role = grant.role.parse().ok()?;
                        Some(proto::RoleGrant {
                            role: role_to_proto(role),
                            project_reviewer: grant.project_reviewer,
                            granted_by: grant.granted_by.clone(),
                            granted_at: Some(timestamp(grant.granted_at)),
                        })
                    })
                    .collect(),
                department_ids: departments
                    .iter()
                    .filter(|d| d.user_id == user.id)
                    .map(|d| d.department_id.to_string())
                    .collect(),
                // An ended block is history, not state.
                blocked_until: blocked.then(|| user.blocked_until.map(timestamp)).flatten(),
                block_reason: if blocked {
                    user.block_reason.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                created_at: Some(timestamp(user.created_at)),
                etag: etag(user),
            }
        })
        .collect())
}

pub fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Error::invalid(field, "is not a user id"))
}

async fn find(state: &State, id: Uuid) -> Result<users::Model> {
    users::Entity::find_by_id(id)
        .filter(users::Column::Status.ne(UserStatus::Deleted.as_str()))
        .one(&state.db)
        .await?
        .ok_or(Error::NotFound("user"))
}

pub async fn get_user(state: &State, caller: &Caller, id: &str) -> Result<proto::User> {
    let id = parse_id("id", id)?;
    // People see only themselves; "not found" rather than "denied" would
    // still say nothing, but denied is the honest answer.
    if caller.user_id() != Some(id) {
        caller.require_admin_or_service()?;
    }
    let user = find(state, id).await?;
    to_proto(&state.db, &user, state.clock.now()).await
}

pub async fn update_me(
    state: &State,
    caller: &Caller,
    request: proto::UpdateMeRequest,
) -> Result<proto::User> {
    let user = caller.person()?.clone();
    if !request.etag.is_empty() && request.etag != etag(&user) {
        return Err(Error::Aborted(
            "the profile changed since it was read; read it again".to_owned(),
        ));
    }
    let paths: Vec<String> = match &request.update_mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths.clone(),
        _ => return Err(Error::invalid("update_mask", "name the fields to change")),
    };
    let mut active = user.clone().into_active_model();
    let mut violations = Vec::new();
    for path in &paths {
        match path.as_str() {
            "display_name" => match DisplayName::parse("display_name", &request.display_name) {
                Ok(name) => active.display_name = Set(name.as_str().to_owned()),
                Err(Error::Invalid(v)) => violations.extend(v),
                Err(e) => return Err(e),
            },
            "locale" => match Locale::parse("locale", &request.locale) {
                Ok(locale) => active.locale = Set(locale.as_str().to_owned()),
                Err(Error::Invalid(v)) => violations.extend(v),
                Err(e) => return Err(e),
            },
            "fields" => {
                let policy = policy::current(state).await?.policy;
                match check_answers(&policy.fields, &request.fields, "fields") {
                    Ok(fields) => {
                        active.fields = Set(serde_json::to_value(&fields)
                            .map_err(|e| Error::Internal(e.to_string()))?)
                    }
                    Err(v) => violations.extend(v),
                }
            }
            other => violations.push(inspraak_kit::grpc::FieldViolation::new(
                "update_mask",
                format!("{other:?} cannot be changed here"),
            )),
        }
    }
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    let version = user.version + 1;
    active.version = Set(version);
    active.updated_at = Set(state.clock.now());
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    // Optimistic concurrency in the database, not only in memory.
    let changed = users::Entity::update_many()
        .set(active.clone())
        .filter(users::Column::Id.eq(user.id))
        .filter(users::Column::Version.eq(user.version))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(Error::Aborted(
            "the profile changed since it was read; read it again".to_owned(),
        ));
    }
    let updated = users::Entity::find_by_id(user.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("user"))?;
    state
        .publish(
            &txn,
            "identity.user.updated.v1",
            "user",
            user.id,
            version,
            &events::UserUpdated {
                user_id: user.id.to_string(),
                display_name: updated.display_name.clone(),
                locale: updated.locale.clone(),
            },
        )
        .await?;
    let view = to_proto(&txn, &updated, state.clock.now()).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

/// Deletes the caller's account after checking their password: the record is
/// anonymised (no name, no address, no fields, no credentials, no roles), and
/// every service hears of it.
pub async fn delete_me(state: &State, caller: &Caller, password: &str) -> Result<()> {
    let user = caller.person()?.clone();
    let hash = credentials::Entity::find_by_id(user.id)
        .one(&state.db)
        .await?
        .map(|c| c.password_hash);
    if !state
        .passwords
        .verify(&Password::presented(password), hash.as_deref())
        .await?
    {
        return Err(Error::invalid("password", "is not the account's password"));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    if caller.is_admin() && crate::roles::admins(&txn).await? <= 1 {
        return Err(Error::FailedPrecondition(
            "the platform's last admin cannot delete their account: appoint another admin first"
                .to_owned(),
        ));
    }
    let version = user.version + 1;
    let mut active = user.clone().into_active_model();
    active.email = Set(format!("deleted-{}@invalid", user.id.simple()));
    active.display_name = Set(String::new());
    active.fields = Set(serde_json::json!({}));
    active.status = Set(UserStatus::Deleted.as_str().to_owned());
    active.block_reason = Set(None);
    active.blocked_until = Set(None);
    active.version = Set(version);
    active.updated_at = Set(state.clock.now());
    active.update(&txn).await?;
    credentials::Entity::delete_by_id(user.id)
        .exec(&txn)
        .await?;
    one_time_codes::Entity::delete_many()
        .filter(one_time_codes::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    role_grants::Entity::delete_many()
        .filter(role_grants::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    department_members::Entity::delete_many()
        .filter(department_members::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    revoke_all_sessions(state, &txn, user.id).await?;
    state
        .publish(
            &txn,
            "identity.user.deleted.v1",
            "user",
            user.id,
            version,
            &events::UserDeleted {
                user_id: user.id.to_string(),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(())
}

pub async fn export(state: &State, caller: &Caller) -> Result<proto::ExportMyDataResponse> {
    let user = caller.person()?;
    let history = role_changes::Entity::find()
        .filter(role_changes::Column::UserId.eq(user.id))
        .order_by_asc(role_changes::Column::Id)
        .all(&state.db)
        .await?;
    let sessions = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::UserId.eq(user.id))
        .order_by_asc(refresh_tokens::Column::IssuedAt)
        .all(&state.db)
        .await?;
    Ok(proto::ExportMyDataResponse {
        user: Some(to_proto(&state.db, user, state.clock.now()).await?),
        role_history: history
            .iter()
            .filter_map(|change| {
                Some(proto::RoleChange {
                    role: role_to_proto(change.role.parse().ok()?),
                    granted: change.granted,
                    by: change.changed_by.clone(),
                    at: Some(timestamp(change.changed_at)),
                })
            })
            .collect(),
        sessions: sessions
            .iter()
            .map(|s| proto::SessionSummary {
                started_at: Some(timestamp(s.issued_at)),
                expires_at: Some(timestamp(s.expires_at)),
                revoked: s.revoked_at.is_some() || s.used_at.is_some(),
            })
            .collect(),
    })
}

const MAX_PAGE: u64 = 200;

/// Admins and services page through accounts, newest last (ids are UUIDv7,
/// so id order is creation order: the keyset is the id).
pub async fn list(
    state: &State,
    caller: &Caller,
    request: &proto::ListUsersRequest,
) -> Result<proto::ListUsersResponse> {
    caller.require_admin_or_service()?;
    let page_size = match request.page_size {
        0 => 50,
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => Ord::min(u64::try_from(n).unwrap_or(MAX_PAGE), MAX_PAGE),
    };
    let mut query = users::Entity::find().order_by_asc(users::Column::Id);
    if !request.page_token.is_empty() {
        let after = Uuid::parse_str(&request.page_token)
            .map_err(|_| Error::invalid("page_token", "is not a page token"))?;
        query = query.filter(users::Column::Id.gt(after));
    }
    query = match proto::UserStatus::try_from(request.status) {
        Ok(proto::UserStatus::Unspecified) => {
            query.filter(users::Column::Status.ne(UserStatus::Deleted.as_str()))
        }
        // Statuses as they stand now: a block with an expiry ends by itself.
        Ok(proto::UserStatus::Active) => query.filter(
            sea_orm::Condition::any()
                .add(users::Column::Status.eq(UserStatus::Active.as_str()))
                .add(
                    sea_orm::Condition::all()
                        .add(users::Column::Status.eq(UserStatus::Blocked.as_str()))
                        .add(users::Column::BlockedUntil.lte(state.clock.now())),
                ),
        ),
        Ok(proto::UserStatus::Blocked) => query
            .filter(users::Column::Status.eq(UserStatus::Blocked.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(users::Column::BlockedUntil.is_null())
                    .add(users::Column::BlockedUntil.gt(state.clock.now())),
            ),
        Ok(proto::UserStatus::Deleted) => {
            query.filter(users::Column::Status.eq(UserStatus::Deleted.as_str()))
        }
        Err(_) => return Err(Error::invalid("status", "is not a user status")),
    };
    if request.role != 0 {
        let role = crate::domain::role_from_proto("role", request.role)?;
        query = query.filter(
            users::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(role_grants::Column::UserId)
                    .from(role_grants::Entity)
                    .and_where(Expr::col(role_grants::Column::Role).eq(role.as_str()))
                    .to_owned(),
            ),
        );
    }
    if !request.department_id.is_empty() {
        let department = Uuid::parse_str(&request.department_id)
            .map_err(|_| Error::invalid("department_id", "is not a department id"))?;
        query = query.filter(
            users::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(department_members::Column::UserId)
                    .from(department_members::Entity)
                    .and_where(Expr::col(department_members::Column::DepartmentId).eq(department))
                    .to_owned(),
            ),
        );
    }
    let text = request.query.trim().to_lowercase();
    if !text.is_empty() {
        // The query is a prefix: the wildcards a person may type in it (an
        // address with `_`) are escaped, not dropped.
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = || LikeExpr::new(format!("{escaped}%")).escape('\\');
        query = query.filter(
            sea_orm::Condition::any()
                .add(users::Column::Email.like(pattern()))
                .add(
                    Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(
                        users::Column::DisplayName,
                    )))
                    .like(pattern()),
                ),
        );
    }
    let rows = query.limit(page_size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > page_size;
    let page: Vec<users::Model> = rows.into_iter().take(page_size as usize).collect();
    let next_page_token = if more {
        page.last().map(|u| u.id.to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    let users = to_protos(&state.db, &page, state.clock.now()).await?;
    Ok(proto::ListUsersResponse {
        users,
        next_page_token,
    })
}

pub async fn block(
    state: &State,
    caller: &Caller,
    request: &proto::BlockUserRequest,
) -> Result<proto::User> {
    caller.require_admin()?;
    let id = parse_id("id", &request.id)?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "must be 1 to 500 characters"));
    }
    let until = match &request.until {
        None => None,
        Some(t) => {
            let at =
                chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
                    .ok_or_else(|| Error::invalid("until", "is not a valid time"))?;
            if at <= state.clock.now() {
                return Err(Error::invalid("until", "must be in the future"));
            }
            Some(at)
        }
    };
    if caller.user_id() == Some(id) {
        return Err(Error::FailedPrecondition(
            "admins cannot block themselves".to_owned(),
        ));
    }
    let user = find(state, id).await?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let version = user.version + 1;
    let mut active = user.clone().into_active_model();
    active.status = Set(UserStatus::Blocked.as_str().to_owned());
    active.blocked_until = Set(until);
    active.block_reason = Set(Some(reason.to_owned()));
    active.version = Set(version);
    active.updated_at = Set(state.clock.now());
    let updated = active.update(&txn).await?;
    revoke_all_sessions(state, &txn, id).await?;
    state
        .publish(
            &txn,
            "identity.user.blocked.v1",
            "user",
            id,
            version,
            &events::UserBlocked {
                user_id: id.to_string(),
                reason: reason.to_owned(),
                until: until.map(timestamp),
                blocked_by: caller.audit_name(),
            },
        )
        .await?;
    let view = to_proto(&txn, &updated, state.clock.now()).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

pub async fn unblock(state: &State, caller: &Caller, id: &str) -> Result<proto::User> {
    caller.require_admin()?;
    let id = parse_id("id", id)?;
    let user = find(state, id).await?;
    if UserStatus::parse(&user.status) != UserStatus::Blocked {
        return Err(Error::FailedPrecondition(
            "the account is not blocked".to_owned(),
        ));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let version = user.version + 1;
    let mut active = user.clone().into_active_model();
    active.status = Set(UserStatus::Active.as_str().to_owned());
    active.blocked_until = Set(None);
    active.block_reason = Set(None);
    active.version = Set(version);
    active.updated_at = Set(state.clock.now());
    let updated = active.update(&txn).await?;
    state
        .publish(
            &txn,
            "identity.user.unblocked.v1",
            "user",
            id,
            version,
            &events::UserUnblocked {
                user_id: id.to_string(),
                unblocked_by: caller.audit_name(),
            },
        )
        .await?;
    let view = to_proto(&txn, &updated, state.clock.now()).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}
