//! Departments: the city's units that own projects and sign feedback.

use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as proto;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, SqlErr,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::accounts::timestamp;
use crate::domain::UserStatus;
use crate::error::{Error, Result};
use crate::people::parse_id;
use crate::state::State;
use crate::store::entities::{department_members, departments, users};

fn etag(department: &departments::Model) -> String {
    format!("department-v{}", department.version)
}

fn parse_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let length = name.chars().count();
    if length == 0 || length > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

fn parse_department_id(raw: &str, field: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Error::invalid(field, "is not a department id"))
}

async fn members<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Vec<String>> {
    Ok(department_members::Entity::find()
        .filter(department_members::Column::DepartmentId.eq(id))
        .order_by_asc(department_members::Column::UserId)
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id.to_string())
        .collect())
}

async fn to_proto<C: ConnectionTrait>(
    db: &C,
    department: &departments::Model,
) -> Result<proto::Department> {
    Ok(proto::Department {
        id: department.id.to_string(),
        name: department.name.clone(),
        archived: department.archived_at.is_some(),
        member_ids: members(db, department.id).await?,
        created_at: Some(timestamp(department.created_at)),
        etag: etag(department),
    })
}

fn name_taken(error: sea_orm::DbErr) -> Error {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::AlreadyExists("a department with this name exists".to_owned())
        }
        _ => error.into(),
    }
}

/// Departments for everyone; who works in them only for admins and services.
pub async fn list(
    state: &State,
    include_archived: bool,
    with_members: bool,
) -> Result<proto::ListDepartmentsResponse> {
    let mut query = departments::Entity::find().order_by_asc(departments::Column::Name);
    if !include_archived {
        query = query.filter(departments::Column::ArchivedAt.is_null());
    }
    let mut rows = query.all(&state.db).await?;
    // Active first, then by name (a city has tens of departments, not more).
    rows.sort_by_key(|d| d.archived_at.is_some());
    let mut list = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut department = to_proto(&state.db, row).await?;
        if !with_members {
            department.member_ids.clear();
        }
        list.push(department);
    }
    Ok(proto::ListDepartmentsResponse { departments: list })
}

async fn publish(
    state: &State,
    txn: &DatabaseTransaction,
    department: &departments::Model,
    created: bool,
) -> Result<()> {
    let event = events::DepartmentChanged {
        department_id: department.id.to_string(),
        name: department.name.clone(),
        archived: department.archived_at.is_some(),
        member_ids: members(txn, department.id).await?,
    };
    let event_type = if created {
        "identity.department.created.v1"
    } else {
        "identity.department.changed.v1"
    };
    state
        .publish(
            txn,
            event_type,
            "department",
            department.id,
            department.version,
            &event,
        )
        .await
}

pub async fn create(
    state: &State,
    caller: &Caller,
    request: &proto::CreateDepartmentRequest,
) -> Result<proto::Department> {
    caller.require_admin()?;
    let name = parse_name(&request.name)?;
    let request_id = Some(request.request_id.trim().to_owned()).filter(|r| !r.is_empty());
    if let Some(request_id) = &request_id {
        if request_id.len() > 100 {
            return Err(Error::invalid(
                "request_id",
                "must be at most 100 characters",
            ));
        }
        let earlier = departments::Entity::find()
            .filter(departments::Column::RequestId.eq(request_id.clone()))
            .one(&state.db)
            .await?;
        if let Some(earlier) = earlier {
            // A retry of a call that succeeded: the same answer.
            return to_proto(&state.db, &earlier).await;
        }
    }
    let department = departments::Model {
        id: Uuid::now_v7(),
        name,
        request_id,
        archived_at: None,
        created_at: state.clock.now(),
        version: 1,
    };
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    departments::Entity::insert(department.clone().into_active_model())
        .exec_without_returning(&txn)
        .await
        .map_err(name_taken)?;
    publish(state, &txn, &department, true).await?;
    let view = to_proto(&txn, &department).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

async fn find(txn: &DatabaseTransaction, id: Uuid) -> Result<departments::Model> {
    departments::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound("department"))
}

async fn save(
    state: &State,
    txn: DatabaseTransaction,
    mut active: departments::ActiveModel,
    id: Uuid,
    version: i64,
) -> Result<proto::Department> {
    active.version = Set(version + 1);
    // The version read must still be the stored one: two writers with the
    // same etag cannot both win.
    let written = departments::Entity::update_many()
        .set(active)
        .filter(departments::Column::Id.eq(id))
        .filter(departments::Column::Version.eq(version))
        .exec(&txn)
        .await
        .map_err(name_taken)?;
    if written.rows_affected == 0 {
        return Err(Error::Aborted(
            "the department changed meanwhile; read it again".to_owned(),
        ));
    }
    let updated = find(&txn, id).await?;
    publish(state, &txn, &updated, false).await?;
    let view = to_proto(&txn, &updated).await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

pub async fn update(
    state: &State,
    caller: &Caller,
    request: &proto::UpdateDepartmentRequest,
) -> Result<proto::Department> {
    caller.require_admin()?;
    let id = parse_department_id(&request.id, "id")?;
    let name = parse_name(&request.name)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let department = find(&txn, id).await?;
    if !request.etag.is_empty() && request.etag != etag(&department) {
        return Err(Error::Aborted(
            "the department changed since it was read; read it again".to_owned(),
        ));
    }
    let version = department.version;
    let mut active = department.into_active_model();
    active.name = Set(name);
    save(state, txn, active, id, version).await
}

pub async fn archive(state: &State, caller: &Caller, id: &str) -> Result<proto::Department> {
    caller.require_admin()?;
    let id = parse_department_id(id, "id")?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let department = find(&txn, id).await?;
    if department.archived_at.is_some() {
        return Err(Error::FailedPrecondition(
            "the department is already archived".to_owned(),
        ));
    }
    let version = department.version;
    let mut active = department.into_active_model();
    active.archived_at = Set(Some(state.clock.now()));
    save(state, txn, active, id, version).await
}

pub async fn add_member(
    state: &State,
    caller: &Caller,
    request: &proto::AddDepartmentMemberRequest,
) -> Result<proto::Department> {
    caller.require_admin()?;
    let id = parse_department_id(&request.department_id, "department_id")?;
    let user_id = parse_id("user_id", &request.user_id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let department = find(&txn, id).await?;
    if department.archived_at.is_some() {
        return Err(Error::FailedPrecondition(
            "the department is archived".to_owned(),
        ));
    }
    users::Entity::find_by_id(user_id)
        .filter(users::Column::Status.ne(UserStatus::Deleted.as_str()))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let existing = department_members::Entity::find_by_id((id, user_id))
        .one(&txn)
        .await?;
    if existing.is_some() {
        let view = to_proto(&txn, &department).await?;
        txn.commit().await?;
        return Ok(view);
    }
    let added = department_members::Entity::insert(department_members::ActiveModel {
        department_id: Set(id),
        user_id: Set(user_id),
        added_at: Set(state.clock.now()),
    })
    .on_conflict(
        OnConflict::columns([
            department_members::Column::DepartmentId,
            department_members::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if added == 0 {
        // Added by a concurrent call a moment ago: the same outcome.
        let view = to_proto(&txn, &department).await?;
        txn.commit().await?;
        return Ok(view);
    }
    let version = department.version;
    save(state, txn, department.into_active_model(), id, version).await
}

pub async fn remove_member(
    state: &State,
    caller: &Caller,
    request: &proto::RemoveDepartmentMemberRequest,
) -> Result<proto::Department> {
    caller.require_admin()?;
    let id = parse_department_id(&request.department_id, "department_id")?;
    let user_id = parse_id("user_id", &request.user_id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let department = find(&txn, id).await?;
    let removed = department_members::Entity::delete_by_id((id, user_id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(Error::NotFound("department member"));
    }
    let version = department.version;
    save(state, txn, department.into_active_model(), id, version).await
}
