//! The first admin. On a database with no platform admin, an e-mail address
//! (from `inspraak identity bootstrap-admin --email …` or
//! `BOOTSTRAP_ADMIN_EMAIL` at start) becomes the first core-team member, with
//! no password: a one-time setup code, printed once, lets them set one.
//! Never a default password.

use inspraak_kit::auth::PlatformRole;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use crate::accounts::{CodePurpose, issue_code};
use crate::domain::{Email, UserStatus};
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::entities::{credentials, role_changes, role_grants, users};

pub enum Bootstrapped {
    /// The admin was created; the code sets their password.
    Created { user_id: Uuid, setup_code: String },
    /// The platform has an admin already: nothing was done.
    AlreadyHasAdmin,
}

pub async fn first_admin(state: &State, email: &Email) -> Result<Bootstrapped> {
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let admins = role_grants::Entity::find()
        .filter(role_grants::Column::Role.eq(PlatformRole::PlatformAdmin.as_str()))
        .count(&txn)
        .await?;
    if admins > 0 {
        return Ok(Bootstrapped::AlreadyHasAdmin);
    }
    let now = state.clock.now();
    let existing = users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(&txn)
        .await?;
    let user = match existing {
        Some(user) if UserStatus::parse(&user.status) == UserStatus::Active => user,
        Some(_) => {
            return Err(Error::FailedPrecondition(
                "that account is blocked or deleted".to_owned(),
            ));
        }
        None => {
            let user = users::Model {
                id: Uuid::now_v7(),
                email: email.as_str().to_owned(),
                email_confirmed_at: None,
                display_name: "Platform admin".to_owned(),
                locale: "en".to_owned(),
                fields: serde_json::json!({}),
                status: UserStatus::Active.as_str().to_owned(),
                blocked_until: None,
                block_reason: None,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            users::Entity::insert(user.clone().into_active_model())
                .exec_without_returning(&txn)
                .await?;
            credentials::Entity::insert(credentials::ActiveModel {
                user_id: Set(user.id),
                password_hash: Set(String::new()),
                changed_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
            // Other services learn of people from this event: without it the
            // first admin would be unknown to notifications, and the role
            // granted below would reach nobody (no proposals to review, no
            // escalations for them).
            state
                .publish(
                    &txn,
                    "identity.user.registered.v1",
                    "user",
                    user.id,
                    user.version,
                    &inspraak_proto::events::v1::UserRegistered {
                        user_id: user.id.to_string(),
                        email: user.email.clone(),
                        display_name: user.display_name.clone(),
                        locale: user.locale.clone(),
                        email_confirmed: false,
                    },
                )
                .await?;
            user
        }
    };
    role_grants::Entity::insert(role_grants::ActiveModel {
        user_id: Set(user.id),
        role: Set(PlatformRole::PlatformAdmin.as_str().to_owned()),
        project_reviewer: Set(true),
        granted_by: Set("bootstrap".to_owned()),
        granted_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    role_changes::Entity::insert(role_changes::ActiveModel {
        user_id: Set(user.id),
        role: Set(PlatformRole::PlatformAdmin.as_str().to_owned()),
        granted: Set(true),
        changed_by: Set("bootstrap".to_owned()),
        changed_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
    state
        .publish(
            &txn,
            "identity.role.granted.v1",
            "user",
            user.id,
            user.version,
            &inspraak_proto::events::v1::RoleGranted {
                user_id: user.id.to_string(),
                role: PlatformRole::PlatformAdmin.as_str().to_owned(),
                project_reviewer: true,
                granted_by: "bootstrap".to_owned(),
            },
        )
        .await?;
    let setup_code = issue_code(state, &txn, &user, CodePurpose::PasswordSetup).await?;
    state.outbox.commit(txn).await?;
    Ok(Bootstrapped::Created {
        user_id: user.id,
        setup_code,
    })
}
