//! Folders, milestones, project updates and the public timeline.

use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as proto;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::access::Caller;
use crate::domain::{Text, parse_time, parse_uuid, timestamp};
use crate::error::{Error, Result};
use crate::projects::{milestone_proto, phase_proto, phases_of, save_and_publish, visible};
use crate::settings_store;
use crate::state::State;
use crate::store::entities::{folders, milestones, projects, updates};

fn folder_proto(folder: &folders::Model) -> proto::Folder {
    proto::Folder {
        id: folder.id.to_string(),
        title: Some(Text::from_json(&folder.title).to_proto()),
        description: Some(Text::from_json(&folder.description).to_proto()),
    }
}

pub async fn folder_exists<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<()> {
    folders::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|_| ())
        .ok_or(Error::NotFound("folder"))
}

pub async fn list_folders(state: &State) -> Result<proto::ListFoldersResponse> {
    let rows = folders::Entity::find()
        .order_by_asc(folders::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(proto::ListFoldersResponse {
        folders: rows.iter().map(folder_proto).collect(),
    })
}

pub async fn create_folder(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::CreateFolderRequest,
) -> Result<proto::Folder> {
    caller.require_admin()?;
    let locales = settings_store::current(&state.db).await?.settings.locales;
    let mut v = Vec::new();
    let title = Text::parse("title", request.title.as_ref(), &locales, 200, true, &mut v);
    let description = Text::parse(
        "description",
        request.description.as_ref(),
        &locales,
        5000,
        false,
        &mut v,
    );
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let folder = folders::Model {
        id: Uuid::now_v7(),
        title: title.to_json(),
        description: description.to_json(),
        created_at: state.clock.now(),
    };
    folders::Entity::insert(folders::ActiveModel {
        id: Set(folder.id),
        title: Set(folder.title.clone()),
        description: Set(folder.description.clone()),
        created_at: Set(folder.created_at),
    })
    .exec_without_returning(&state.db)
    .await?;
    Ok(folder_proto(&folder))
}

pub async fn set_milestone(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::SetMilestoneRequest,
) -> Result<proto::Project> {
    let id = parse_uuid("project_id", &request.project_id)?;
    caller.require_manager(&state.db, id).await?;
    let milestone = request
        .milestone
        .as_ref()
        .ok_or_else(|| Error::invalid("milestone", "is required"))?;
    let locales = settings_store::current(&state.db).await?.settings.locales;
    let mut v = Vec::new();
    let title = Text::parse(
        "milestone.title",
        milestone.title.as_ref(),
        &locales,
        200,
        true,
        &mut v,
    );
    let at = parse_time("milestone.at", milestone.at.as_ref(), &mut v);
    if milestone.at.is_none() {
        v.push(inspraak_kit::grpc::FieldViolation::new(
            "milestone.at",
            "is required",
        ));
    }
    let (true, Some(at)) = (v.is_empty(), at) else {
        return Err(Error::Invalid(v));
    };
    let milestone_id = if milestone.id.is_empty() {
        Uuid::now_v7()
    } else {
        parse_uuid("milestone.id", &milestone.id)?
    };
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let existing = milestones::Entity::find_by_id(milestone_id)
        .one(&txn)
        .await?;
    match existing {
        Some(row) if row.project_id != id => return Err(Error::NotFound("milestone")),
        Some(_) => {
            // A moved milestone is announced again when it approaches.
            milestones::Entity::update(milestones::ActiveModel {
                id: Set(milestone_id),
                project_id: Set(id),
                title: Set(title.to_json()),
                at: Set(at),
                approaching_announced_at: Set(None),
            })
            .exec(&txn)
            .await?;
        }
        None if !milestone.id.is_empty() => return Err(Error::NotFound("milestone")),
        None => {
            milestones::Entity::insert(milestones::ActiveModel {
                id: Set(milestone_id),
                project_id: Set(id),
                title: Set(title.to_json()),
                at: Set(at),
                approaching_announced_at: Set(None),
            })
            .exec_without_returning(&txn)
            .await?;
        }
    }
    save_and_publish(state, txn, project, "projects.milestone.set.v1").await
}

pub async fn delete_milestone(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::DeleteMilestoneRequest,
) -> Result<proto::Project> {
    let id = parse_uuid("project_id", &request.project_id)?;
    caller.require_manager(&state.db, id).await?;
    let milestone_id = parse_uuid("milestone_id", &request.milestone_id)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let deleted = milestones::Entity::delete_many()
        .filter(milestones::Column::Id.eq(milestone_id))
        .filter(milestones::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(Error::NotFound("milestone"));
    }
    save_and_publish(state, txn, project, "projects.milestone.deleted.v1").await
}

fn update_proto(update: &updates::Model) -> proto::ProjectUpdate {
    proto::ProjectUpdate {
        id: update.id.to_string(),
        project_id: update.project_id.to_string(),
        title: Some(Text::from_json(&update.title).to_proto()),
        body: Some(Text::from_json(&update.body).to_proto()),
        author_id: update.author_id.clone(),
        posted_at: Some(timestamp(update.posted_at)),
    }
}

pub async fn post_update(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::PostUpdateRequest,
) -> Result<proto::ProjectUpdate> {
    let id = parse_uuid("project_id", &request.project_id)?;
    caller.require_staff(&state.db, id).await?;
    let request_id = Some(request.request_id.trim().to_owned()).filter(|r| !r.is_empty());
    let author = caller.principal()?.subject.clone();
    if let Some(earlier) = earlier_update(&state.db, id, &author, request_id.as_deref()).await? {
        return Ok(update_proto(&earlier));
    }
    let locales = settings_store::current(&state.db).await?.settings.locales;
    let mut v = Vec::new();
    let title = Text::parse("title", request.title.as_ref(), &locales, 200, true, &mut v);
    let body = Text::parse(
        "body",
        request.body.as_ref(),
        &locales,
        20_000,
        true,
        &mut v,
    );
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let update = updates::Model {
        id: Uuid::now_v7(),
        project_id: id,
        title: title.to_json(),
        body: body.to_json(),
        author_id: author.clone(),
        posted_at: state.clock.now(),
        request_id,
    };
    let inserted = updates::Entity::insert(updates::ActiveModel {
        id: Set(update.id),
        project_id: Set(update.project_id),
        title: Set(update.title.clone()),
        body: Set(update.body.clone()),
        author_id: Set(update.author_id.clone()),
        posted_at: Set(update.posted_at),
        request_id: Set(update.request_id.clone()),
    })
    .exec_without_returning(&txn)
    .await;
    if let Err(error) = inserted {
        drop(txn);
        // A retry overlapping the first call: the first one's update.
        if matches!(
            error.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        ) && let Some(earlier) =
            earlier_update(&state.db, id, &author, update.request_id.as_deref()).await?
        {
            return Ok(update_proto(&earlier));
        }
        return Err(error.into());
    }
    let view = update_proto(&update);
    state
        .publish(
            &txn,
            "projects.update.posted.v1",
            "project",
            id,
            0,
            &events::UpdatePosted {
                update: Some(view.clone()),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

/// The update this author already posted on this project with this retry key.
async fn earlier_update<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    author: &str,
    request_id: Option<&str>,
) -> Result<Option<updates::Model>> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    Ok(updates::Entity::find()
        .filter(updates::Column::ProjectId.eq(project))
        .filter(updates::Column::AuthorId.eq(author))
        .filter(updates::Column::RequestId.eq(request_id))
        .one(db)
        .await?)
}

pub async fn list_updates(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListUpdatesRequest,
) -> Result<proto::ListUpdatesResponse> {
    let id = parse_uuid("project_id", &request.project_id)?;
    visible(&state.db, caller, id).await?;
    let page_size = match request.page_size {
        0 => 20,
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => Ord::min(u64::try_from(n).unwrap_or(100), 100),
    };
    // Newest first; ids are UUIDv7, so the id is the keyset.
    let mut query = updates::Entity::find()
        .filter(updates::Column::ProjectId.eq(id))
        .order_by_desc(updates::Column::Id);
    if !request.page_token.is_empty() {
        query =
            query.filter(updates::Column::Id.lt(parse_uuid("page_token", &request.page_token)?));
    }
    let rows = query.limit(page_size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > page_size;
    let page: Vec<&updates::Model> = rows.iter().take(page_size as usize).collect();
    Ok(proto::ListUpdatesResponse {
        next_page_token: if more {
            page.last().map(|u| u.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        updates: page.into_iter().map(update_proto).collect(),
    })
}

pub async fn timeline(
    state: &State,
    caller: &Caller<'_>,
    project_id: &str,
) -> Result<proto::Timeline> {
    let id = parse_uuid("project_id", project_id)?;
    visible(&state.db, caller, id).await?;
    let mut entries: Vec<proto::TimelineEntry> = phases_of(&state.db, id)
        .await?
        .iter()
        .map(|phase| proto::TimelineEntry {
            at: Some(timestamp(phase.starts_at)),
            entry: Some(proto::timeline_entry::Entry::Phase(phase_proto(phase))),
        })
        .collect();
    let milestones = milestones::Entity::find()
        .filter(milestones::Column::ProjectId.eq(id))
        .all(&state.db)
        .await?;
    entries.extend(milestones.iter().map(|m| proto::TimelineEntry {
        at: Some(timestamp(m.at)),
        entry: Some(proto::timeline_entry::Entry::Milestone(milestone_proto(m))),
    }));
    entries.sort_by_key(|e| e.at.map(|t| (t.seconds, t.nanos)));
    Ok(proto::Timeline { entries })
}
