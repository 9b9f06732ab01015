//! Notifications' copies of the facts it addresses people by: people (from
//! identity), projects with their teams and the platform's time zone (from
//! projects), follows (from contributions). Each is applied in the
//! transaction of the event that carries it.

use chrono::{DateTime, Utc};
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::store::entities::{
    deliveries, erased_people, follows, notifications, people, person_roles, platform, preferences,
    project_team, projects as project_rows, unsubscribe_tokens,
};

/// The platform's time zone until projects has said otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Brussels";

async fn erased<C: ConnectionTrait>(db: &C, user: &str) -> Result<bool, DbErr> {
    Ok(erased_people::Entity::find_by_id(user.to_owned())
        .one(db)
        .await?
        .is_some())
}

pub async fn person<C: ConnectionTrait>(
    db: &C,
    user: &str,
) -> Result<Option<people::Model>, DbErr> {
    people::Entity::find_by_id(user.to_owned()).one(db).await
}

fn roles_of(person: &people::Model) -> Vec<String> {
    serde_json::from_value(person.roles.clone()).unwrap_or_default()
}

pub fn roles(person: &people::Model) -> Vec<String> {
    roles_of(person)
}

pub async fn registered<C: ConnectionTrait>(
    db: &C,
    event: &events::UserRegistered,
) -> Result<(), DbErr> {
    if erased(db, &event.user_id).await? {
        return Ok(());
    }
    people::Entity::insert(people::ActiveModel {
        user_id: Set(event.user_id.clone()),
        email: Set(event.email.clone()),
        display_name: Set(event.display_name.clone()),
        locale: Set(event.locale.clone()),
        roles: Set(serde_json::json!([])),
    })
    .on_conflict(
        OnConflict::column(people::Column::UserId)
            .update_columns([
                people::Column::Email,
                people::Column::DisplayName,
                people::Column::Locale,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn updated<C: ConnectionTrait>(db: &C, event: &events::UserUpdated) -> Result<(), DbErr> {
    let Some(mut row) = person(db, &event.user_id).await? else {
        return Ok(());
    };
    if !event.display_name.is_empty() {
        row.display_name.clone_from(&event.display_name);
    }
    if !event.locale.is_empty() {
        row.locale.clone_from(&event.locale);
    }
    people::Entity::update(people::ActiveModel {
        user_id: Set(row.user_id),
        display_name: Set(row.display_name),
        locale: Set(row.locale),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Whether `user` is someone identity has not told us about yet (and did
/// not delete): an event about them has come before their registration.
pub async fn not_yet_registered<C: ConnectionTrait>(db: &C, user: &str) -> Result<bool, DbErr> {
    Ok(person(db, user).await?.is_none() && !erased(db, user).await?)
}

/// Adds or removes `role`; returns whether the person has it now and did
/// not before.
pub async fn role<C: ConnectionTrait>(
    db: &C,
    user: &str,
    role: &str,
    granted: bool,
) -> Result<bool, DbErr> {
    let Some(row) = person(db, user).await? else {
        return Ok(false);
    };
    let mut roles = roles_of(&row);
    let had = roles.iter().any(|r| r == role);
    if granted && !had {
        roles.push(role.to_owned());
    } else if !granted {
        roles.retain(|r| r != role);
    }
    people::Entity::update(people::ActiveModel {
        user_id: Set(row.user_id),
        roles: Set(serde_json::json!(roles)),
        ..Default::default()
    })
    .exec(db)
    .await?;
    if granted {
        person_roles::Entity::insert(person_roles::ActiveModel {
            role: Set(role.to_owned()),
            user_id: Set(user.to_owned()),
        })
        .on_conflict(
            OnConflict::columns([person_roles::Column::Role, person_roles::Column::UserId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    } else {
        person_roles::Entity::delete_many()
            .filter(person_roles::Column::Role.eq(role))
            .filter(person_roles::Column::UserId.eq(user))
            .exec(db)
            .await?;
    }
    Ok(granted && !had)
}

/// The people holding `role`, from the role index.
pub async fn holding<C: ConnectionTrait>(db: &C, role: &str) -> Result<Vec<people::Model>, DbErr> {
    let ids: Vec<String> = person_roles::Entity::find()
        .filter(person_roles::Column::Role.eq(role))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    people::Entity::find()
        .filter(people::Column::UserId.is_in(ids))
        .order_by_asc(people::Column::UserId)
        .all(db)
        .await
}

/// Purges everything notifications holds about `user`: address, inbox,
/// preferences, follows, unsent mail; keeps a tombstone of the id alone so
/// late events do not bring them back.
pub async fn erase<C: ConnectionTrait>(db: &C, user: &str) -> Result<(), DbErr> {
    people::Entity::delete_by_id(user.to_owned())
        .exec(db)
        .await?;
    notifications::Entity::delete_many()
        .filter(notifications::Column::UserId.eq(user))
        .exec(db)
        .await?;
    preferences::Entity::delete_many()
        .filter(preferences::Column::UserId.eq(user))
        .exec(db)
        .await?;
    follows::Entity::delete_many()
        .filter(follows::Column::UserId.eq(user))
        .exec(db)
        .await?;
    project_team::Entity::delete_many()
        .filter(project_team::Column::UserId.eq(user))
        .exec(db)
        .await?;
    unsubscribe_tokens::Entity::delete_many()
        .filter(unsubscribe_tokens::Column::UserId.eq(user))
        .exec(db)
        .await?;
    // Sent mail stays as a record that it was sent, without its content or
    // address; the rest is gone.
    deliveries::Entity::delete_many()
        .filter(deliveries::Column::UserId.eq(user))
        .filter(deliveries::Column::State.ne("sent"))
        .exec(db)
        .await?;
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::Content,
            sea_orm::sea_query::Expr::value(serde_json::json!({})),
        )
        .col_expr(
            deliveries::Column::Address,
            sea_orm::sea_query::Expr::value(None::<String>),
        )
        .filter(deliveries::Column::UserId.eq(user))
        .exec(db)
        .await?;
    erased_people::Entity::insert(erased_people::ActiveModel {
        user_id: Set(user.to_owned()),
    })
    .on_conflict(
        OnConflict::column(erased_people::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Replaces the copy of `project` unless a newer one is stored; returns the
/// people who joined its team with this version (they receive rights).
pub async fn project<C: ConnectionTrait>(
    db: &C,
    project: &projects::Project,
    version: i64,
) -> Result<Vec<(String, &'static str)>, DbErr> {
    let Ok(id) = Uuid::parse_str(&project.id) else {
        return Ok(Vec::new());
    };
    let title = project
        .title
        .as_ref()
        .map(|t| serde_json::json!(t.text))
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(stored) = project_rows::Entity::find_by_id(id).one(db).await?
        && stored.version > version
    {
        return Ok(Vec::new());
    }
    project_rows::Entity::insert(project_rows::ActiveModel {
        id: Set(id),
        title: Set(title),
        version: Set(version),
    })
    .on_conflict(
        OnConflict::column(project_rows::Column::Id)
            .update_columns([project_rows::Column::Title, project_rows::Column::Version])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let before: Vec<(String, String)> = project_team::Entity::find()
        .filter(project_team::Column::ProjectId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.role))
        .collect();
    project_team::Entity::delete_many()
        .filter(project_team::Column::ProjectId.eq(id))
        .exec(db)
        .await?;
    let team = project.team.clone().unwrap_or_default();
    let mut members: Vec<(String, &'static str)> = Vec::new();
    for manager in team.manager_ids {
        if !members.iter().any(|(m, _)| *m == manager) {
            members.push((manager, "manager"));
        }
    }
    if !team.communication_contact_id.is_empty() {
        members.push((team.communication_contact_id, "communication_contact"));
    }
    let mut joined = Vec::new();
    for (user, role) in members {
        project_team::Entity::insert(project_team::ActiveModel {
            project_id: Set(id),
            user_id: Set(user.clone()),
            role: Set(role.to_owned()),
        })
        .exec_without_returning(db)
        .await?;
        if !before.iter().any(|(u, r)| *u == user && r == role) {
            joined.push((user, role));
        }
    }
    Ok(joined)
}

pub async fn follow<C: ConnectionTrait>(
    db: &C,
    event: &events::FollowChanged,
) -> Result<(), DbErr> {
    let (Ok(target), Ok(project)) = (
        Uuid::parse_str(&event.target_id),
        Uuid::parse_str(&event.project_id),
    ) else {
        return Ok(());
    };
    if event.following {
        if erased(db, &event.user_id).await? {
            return Ok(());
        }
        follows::Entity::insert(follows::ActiveModel {
            user_id: Set(event.user_id.clone()),
            target_type: Set(event.target_type.clone()),
            target_id: Set(target),
            project_id: Set(project),
        })
        .on_conflict(
            OnConflict::columns([
                follows::Column::UserId,
                follows::Column::TargetType,
                follows::Column::TargetId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    } else {
        follows::Entity::delete_many()
            .filter(follows::Column::UserId.eq(&event.user_id))
            .filter(follows::Column::TargetType.eq(&event.target_type))
            .filter(follows::Column::TargetId.eq(target))
            .exec(db)
            .await?;
    }
    Ok(())
}

pub async fn settings<C: ConnectionTrait>(
    db: &C,
    settings: &projects::PlatformSettings,
    version: i64,
) -> Result<(), DbErr> {
    let time_zone = if settings.time_zone.parse::<chrono_tz::Tz>().is_ok() {
        settings.time_zone.clone()
    } else {
        DEFAULT_TIME_ZONE.to_owned()
    };
    let row = platform::ActiveModel {
        id: Set(1),
        time_zone: Set(time_zone),
        default_locale: Set(settings
            .locales
            .first()
            .cloned()
            .unwrap_or_else(|| "nl".to_owned())),
        version: Set(version),
    };
    if let Some(stored) = platform::Entity::find_by_id(1).one(db).await?
        && stored.version > version
    {
        return Ok(());
    }
    platform::Entity::insert(row)
        .on_conflict(
            OnConflict::column(platform::Column::Id)
                .update_columns([
                    platform::Column::TimeZone,
                    platform::Column::DefaultLocale,
                    platform::Column::Version,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The platform's time zone.
pub async fn time_zone<C: ConnectionTrait>(db: &C) -> Result<chrono_tz::Tz, DbErr> {
    let name = platform::Entity::find_by_id(1)
        .one(db)
        .await?
        .map_or_else(|| DEFAULT_TIME_ZONE.to_owned(), |p| p.time_zone);
    Ok(name.parse().unwrap_or(chrono_tz::Europe::Brussels))
}

/// The project's title in `locale`, else in any locale it has.
pub async fn project_title<C: ConnectionTrait>(
    db: &C,
    project: Option<Uuid>,
    locale: &str,
) -> Result<String, DbErr> {
    let Some(project) = project else {
        return Ok(String::new());
    };
    let Some(row) = project_rows::Entity::find_by_id(project).one(db).await? else {
        return Ok(String::new());
    };
    let titles: std::collections::BTreeMap<String, String> =
        serde_json::from_value(row.title).unwrap_or_default();
    Ok(pick(titles, locale))
}

/// The text for `locale` (or its language), else English, else the first
/// there is.
pub fn pick(texts: impl IntoIterator<Item = (String, String)>, locale: &str) -> String {
    let language = locale.get(..2).unwrap_or(locale);
    let mut all: Vec<(String, String)> = texts.into_iter().collect();
    all.sort();
    all.iter()
        .find(|(l, _)| l == locale)
        .or_else(|| all.iter().find(|(l, _)| l.get(..2) == Some(language)))
        .or_else(|| all.iter().find(|(l, _)| l == "en"))
        .or_else(|| all.first())
        .map(|(_, text)| text.clone())
        .unwrap_or_default()
}

/// When `at` is, as a time stamp from an event.
pub fn time(at: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    inspraak_kit::clock::from_timestamp(at)
}
