//! Accounts and sessions: registering, confirming, signing in, refreshing,
//! signing out, changing and resetting passwords, service tokens.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use inspraak_kit::auth::{AccessClaims, PrincipalKind};
use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as proto;
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use uuid::Uuid;

use crate::access::{is_still_blocked, roles_of};
use crate::domain::fields::check_answers;
use crate::domain::{DisplayName, Email, Locale, Password, UserStatus, secrets};
use crate::error::{Error, Result};
use crate::policy;
use crate::state::State;
use crate::store::entities::{
    credentials, department_members, one_time_codes, refresh_tokens, users,
};
use crate::throttle::Throttle;

/// What a one-time code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    ConfirmEmail,
    PasswordReset,
    /// The first admin's: sets a password where there was none.
    PasswordSetup,
}

impl CodePurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmEmail => "confirm_email",
            Self::PasswordReset => "password_reset",
            Self::PasswordSetup => "password_setup",
        }
    }

    fn lifetime(self) -> Duration {
        match self {
            Self::ConfirmEmail => Duration::hours(24),
            Self::PasswordReset => Duration::hours(1),
            Self::PasswordSetup => Duration::hours(72),
        }
    }
}

/// Wrong guesses after which a code is dead.
const CODE_ATTEMPTS: i32 = 5;
const WRONG_CODE: &str = "the code is wrong or has expired";
const WRONG_CREDENTIALS: &str = "wrong e-mail address or password";

pub struct Registration {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub locale: String,
    pub fields: HashMap<String, proto::FieldValue>,
}

/// Keeps a parsed value, or collects its violations so that every bad field
/// is reported at once.
fn keep<T>(
    result: Result<T>,
    violations: &mut Vec<inspraak_kit::grpc::FieldViolation>,
) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Invalid(found)) => {
            violations.extend(found);
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// Creates an account; returns it and whether a confirmation code was sent.
pub async fn register(state: &State, input: Registration) -> Result<(users::Model, bool)> {
    let policy = policy::current(state).await?.policy;
    let mut violations = Vec::new();
    let email = keep(Email::parse("email", &input.email), &mut violations)?;
    let password = keep(
        Password::parse(
            "password",
            &input.password,
            policy.min_password_length as usize,
        ),
        &mut violations,
    )?;
    let name = keep(
        DisplayName::parse("display_name", &input.display_name),
        &mut violations,
    )?;
    let locale = keep(Locale::parse("locale", &input.locale), &mut violations)?;
    let fields = match check_answers(&policy.fields, &input.fields, "fields") {
        Ok(fields) => Some(fields),
        Err(found) => {
            violations.extend(found);
            None
        }
    };
    let (Some(email), Some(password), Some(name), Some(locale), Some(fields)) =
        (email, password, name, locale, fields)
    else {
        return Err(Error::Invalid(violations));
    };

    let password_hash = state.passwords.hash(&password).await?;
    let now = state.clock.now();
    let user = users::Model {
        id: Uuid::now_v7(),
        email: email.as_str().to_owned(),
        email_confirmed_at: None,
        display_name: name.as_str().to_owned(),
        locale: locale.as_str().to_owned(),
        fields: serde_json::to_value(&fields).map_err(|e| Error::Internal(e.to_string()))?,
        status: UserStatus::Active.as_str().to_owned(),
        blocked_until: None,
        block_reason: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let inserted = users::Entity::insert(user.clone().into_active_model())
        .exec_without_returning(&txn)
        .await;
    if let Err(error) = inserted {
        return Err(match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Error::AlreadyExists("an account with this e-mail address exists".to_owned())
            }
            _ => error.into(),
        });
    }
    credentials::Entity::insert(credentials::ActiveModel {
        user_id: Set(user.id),
        password_hash: Set(password_hash),
        changed_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    state
        .publish(
            &txn,
            "identity.user.registered.v1",
            "user",
            user.id,
            user.version,
            &events::UserRegistered {
                user_id: user.id.to_string(),
                email: user.email.clone(),
                display_name: user.display_name.clone(),
                locale: user.locale.clone(),
                email_confirmed: false,
            },
        )
        .await?;
    let confirmation_sent = policy.confirmation_required;
    if confirmation_sent {
        issue_code(state, &txn, &user, CodePurpose::ConfirmEmail).await?;
    }
    state.outbox.commit(txn).await?;
    Ok((user, confirmation_sent))
}

/// Creates a one-time code and publishes it for notifications to deliver.
pub async fn issue_code<C: ConnectionTrait>(
    state: &State,
    txn: &C,
    user: &users::Model,
    purpose: CodePurpose,
) -> Result<String> {
    let code = secrets::new_code();
    let now = state.clock.now();
    let expires_at = now + purpose.lifetime();
    // A new code replaces the earlier ones of the same purpose.
    one_time_codes::Entity::update_many()
        .col_expr(one_time_codes::Column::UsedAt, Expr::value(now))
        .filter(one_time_codes::Column::UserId.eq(user.id))
        .filter(one_time_codes::Column::Purpose.eq(purpose.as_str()))
        .filter(one_time_codes::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    one_time_codes::Entity::insert(one_time_codes::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user.id),
        purpose: Set(purpose.as_str().to_owned()),
        code_hash: Set(secrets::hash(&code)),
        expires_at: Set(expires_at),
        used_at: Set(None),
        failed_attempts: Set(0),
        created_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    let timestamp = Some(timestamp(expires_at));
    match purpose {
        CodePurpose::ConfirmEmail => {
            state
                .publish(
                    txn,
                    "identity.user.confirmation_requested.v1",
                    "user",
                    user.id,
                    user.version,
                    &events::ConfirmationRequested {
                        user_id: user.id.to_string(),
                        email: user.email.clone(),
                        locale: user.locale.clone(),
                        code: code.clone(),
                        expires_at: timestamp,
                    },
                )
                .await?
        }
        CodePurpose::PasswordReset | CodePurpose::PasswordSetup => {
            state
                .publish(
                    txn,
                    "identity.user.password_reset_requested.v1",
                    "user",
                    user.id,
                    user.version,
                    &events::PasswordResetRequested {
                        user_id: user.id.to_string(),
                        email: user.email.clone(),
                        locale: user.locale.clone(),
                        code: code.clone(),
                        expires_at: timestamp,
                        setup: purpose == CodePurpose::PasswordSetup,
                    },
                )
                .await?
        }
    }
    Ok(code)
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

async fn user_by_email<C: ConnectionTrait>(txn: &C, email: &Email) -> Result<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .filter(users::Column::Status.ne(UserStatus::Deleted.as_str()))
        .one(txn)
        .await?)
}

/// Uses up a code of `purposes` for `email`: the user it belongs to, or
/// INVALID_ARGUMENT (the same for an unknown address, a wrong, used, expired
/// or exhausted code).
async fn redeem_code<C: ConnectionTrait>(
    state: &State,
    txn: &C,
    email: &Email,
    code: &str,
    purposes: &[CodePurpose],
) -> Result<(users::Model, CodePurpose)> {
    let wrong = || Error::invalid("code", WRONG_CODE);
    let user = user_by_email(txn, email).await?.ok_or_else(wrong)?;
    let now = state.clock.now();
    let candidate = one_time_codes::Entity::find()
        .filter(one_time_codes::Column::UserId.eq(user.id))
        .filter(one_time_codes::Column::Purpose.is_in(purposes.iter().map(|p| p.as_str())))
        .filter(one_time_codes::Column::UsedAt.is_null())
        .order_by_desc(one_time_codes::Column::CreatedAt)
        .lock(LockType::Update)
        .one(txn)
        .await?
        .ok_or_else(wrong)?;
    if candidate.expires_at <= now || candidate.failed_attempts >= CODE_ATTEMPTS {
        return Err(wrong());
    }
    if !secrets::same(&candidate.code_hash, &secrets::hash(code.trim())) {
        let attempts = candidate.failed_attempts + 1;
        let mut active = candidate.into_active_model();
        active.failed_attempts = Set(attempts);
        active.update(txn).await?;
        return Err(wrong());
    }
    let purpose = purposes
        .iter()
        .copied()
        .find(|p| p.as_str() == candidate.purpose)
        .ok_or_else(wrong)?;
    let mut active = candidate.into_active_model();
    active.used_at = Set(Some(now));
    active.update(txn).await?;
    Ok((user, purpose))
}

pub async fn confirm_email(state: &State, email: &str, code: &str) -> Result<()> {
    let email = Email::parse("email", email)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let outcome = redeem_code(state, &txn, &email, code, &[CodePurpose::ConfirmEmail]).await;
    let (user, _) = match outcome {
        Ok(found) => found,
        Err(error) => {
            // Keep the counted wrong guess.
            txn.commit().await?;
            return Err(error);
        }
    };
    if user.email_confirmed_at.is_none() {
        let version = user.version + 1;
        let mut active = user.clone().into_active_model();
        active.email_confirmed_at = Set(Some(state.clock.now()));
        active.version = Set(version);
        active.updated_at = Set(state.clock.now());
        active.update(&txn).await?;
        state
            .publish(
                &txn,
                "identity.user.confirmed.v1",
                "user",
                user.id,
                version,
                &events::UserConfirmed {
                    user_id: user.id.to_string(),
                },
            )
            .await?;
    }
    state.outbox.commit(txn).await?;
    Ok(())
}

/// Sends a new confirmation code to an unconfirmed account. The answer and
/// its timing are the same for any address: the work happens after it.
pub async fn resend_confirmation(state: &State, email: &str) -> Result<()> {
    let email = Email::parse("email", email)?;
    let state = state.clone();
    tokio::spawn(async move {
        let work = async {
            let txn = inspraak_kit::db::begin_write(&state.db).await?;
            if let Some(user) = user_by_email(&txn, &email).await?
                && user.email_confirmed_at.is_none()
            {
                issue_code(&state, &txn, &user, CodePurpose::ConfirmEmail).await?;
            }
            state.outbox.commit(txn).await?;
            Ok::<_, Error>(())
        };
        if let Err(error) = work.await {
            tracing::error!(%error, "sending a confirmation code failed");
        }
    });
    Ok(())
}

/// Starts a password reset. Same answer, same timing, whether or not the
/// address is registered.
pub async fn request_password_reset(state: &State, email: &str) -> Result<()> {
    let email = Email::parse("email", email)?;
    let state = state.clone();
    tokio::spawn(async move {
        let work = async {
            let txn = inspraak_kit::db::begin_write(&state.db).await?;
            if let Some(user) = user_by_email(&txn, &email).await?
                && !is_still_blocked(&user, &state)
            {
                issue_code(&state, &txn, &user, CodePurpose::PasswordReset).await?;
            }
            state.outbox.commit(txn).await?;
            Ok::<_, Error>(())
        };
        if let Err(error) = work.await {
            tracing::error!(%error, "starting a password reset failed");
        }
    });
    Ok(())
}

/// Sets a new password with a reset or setup code; every session ends.
pub async fn reset_password(
    state: &State,
    email: &str,
    code: &str,
    new_password: &str,
) -> Result<()> {
    let email = Email::parse("email", email)?;
    let policy = policy::current(state).await?.policy;
    let password = Password::parse(
        "new_password",
        new_password,
        policy.min_password_length as usize,
    )?;
    let hash = state.passwords.hash(&password).await?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let outcome = redeem_code(
        state,
        &txn,
        &email,
        code,
        &[CodePurpose::PasswordReset, CodePurpose::PasswordSetup],
    )
    .await;
    let (user, purpose) = match outcome {
        Ok(found) => found,
        Err(error) => {
            txn.commit().await?;
            return Err(error);
        }
    };
    set_password(state, &txn, user.id, hash).await?;
    revoke_all_sessions(state, &txn, user.id).await?;
    if purpose == CodePurpose::PasswordSetup && user.email_confirmed_at.is_none() {
        // The setup code reached the address: that confirms it.
        let mut active = user.clone().into_active_model();
        active.email_confirmed_at = Set(Some(state.clock.now()));
        active.version = Set(user.version + 1);
        active.update(&txn).await?;
    }
    state.outbox.commit(txn).await?;
    Ok(())
}

async fn set_password<C: ConnectionTrait>(
    state: &State,
    txn: &C,
    user: Uuid,
    hash: String,
) -> Result<()> {
    credentials::Entity::update_many()
        .col_expr(credentials::Column::PasswordHash, Expr::value(hash))
        .col_expr(
            credentials::Column::ChangedAt,
            Expr::value(state.clock.now()),
        )
        .filter(credentials::Column::UserId.eq(user))
        .exec(txn)
        .await?;
    Ok(())
}

pub async fn revoke_all_sessions<C: ConnectionTrait>(
    state: &State,
    txn: &C,
    user: Uuid,
) -> Result<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(
            refresh_tokens::Column::RevokedAt,
            Expr::value(state.clock.now()),
        )
        .filter(refresh_tokens::Column::UserId.eq(user))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Signs in. An unknown address and a wrong password get the same answer
/// after the same work (a password check against a decoy hash).
pub async fn login(
    state: &State,
    email: &str,
    password: &str,
    client: Option<std::net::SocketAddr>,
) -> Result<proto::Session> {
    let email = Email::parse("email", email)?;
    let password = Password::presented(password);
    let client = Throttle::client(client);
    let reservation = state
        .throttle
        .reserve(&Throttle::account(email.as_str()), client.as_deref())
        .await?;
    // One query, the same for a registered address and an unknown one, and
    // the same password check after it: a failure takes the same time either
    // way. The account itself is read only once the password matched.
    let credentials = credentials::Entity::find()
        .filter(
            credentials::Column::UserId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(users::Column::Id)
                    .from(users::Entity)
                    .and_where(Expr::col(users::Column::Email).eq(email.as_str()))
                    .and_where(Expr::col(users::Column::Status).ne(UserStatus::Deleted.as_str()))
                    .to_owned(),
            ),
        )
        .one(&state.db)
        .await?;
    let hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    if !state.passwords.verify(&password, hash).await? {
        return Err(Error::Unauthenticated(WRONG_CREDENTIALS.to_owned()));
    }
    let user = match &credentials {
        Some(credentials) => {
            users::Entity::find_by_id(credentials.user_id)
                .one(&state.db)
                .await?
        }
        None => None,
    }
    .ok_or_else(|| Error::Unauthenticated(WRONG_CREDENTIALS.to_owned()))?;
    state.throttle.release(reservation).await?;
    if is_still_blocked(&user, state) {
        return Err(Error::PermissionDenied("the account is blocked".to_owned()));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let refresh = new_refresh_token(state, &txn, &user, Uuid::new_v4()).await?;
    txn.commit().await?;
    session(state, &user, refresh).await
}

/// A new refresh token in `family`, written within `txn`.
struct NewRefresh {
    token: String,
    expires_at: DateTime<Utc>,
}

async fn new_refresh_token<C: ConnectionTrait>(
    state: &State,
    txn: &C,
    user: &users::Model,
    family: Uuid,
) -> Result<NewRefresh> {
    let now = state.clock.now();
    let token = secrets::new_refresh_token();
    let expires_at = now + to_chrono(state.settings.refresh_token_ttl);
    refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
        id: Set(Uuid::new_v4()),
        family_id: Set(family),
        user_id: Set(user.id),
        token_hash: Set(secrets::hash(&token)),
        issued_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(NewRefresh { token, expires_at })
}

/// The session handed out: the committed refresh token and a fresh access
/// token. Built after the commit: signing reads the database, which on SQLite
/// has one connection, held by an open transaction.
async fn session(
    state: &State,
    user: &users::Model,
    refresh: NewRefresh,
) -> Result<proto::Session> {
    let (access, access_expires) = access_token(state, user).await?;
    Ok(proto::Session {
        access_token: access,
        access_token_expires_at: Some(timestamp(access_expires)),
        refresh_token: refresh.token,
        refresh_token_expires_at: Some(timestamp(refresh.expires_at)),
        user_id: user.id.to_string(),
    })
}

fn to_chrono(duration: std::time::Duration) -> Duration {
    Duration::from_std(duration).unwrap_or(Duration::minutes(15))
}

async fn access_token(state: &State, user: &users::Model) -> Result<(String, DateTime<Utc>)> {
    let now = state.clock.now();
    let expires = now + to_chrono(state.settings.access_token_ttl);
    let roles = roles_of(state, user.id).await?;
    let departments = department_members::Entity::find()
        .filter(department_members::Column::UserId.eq(user.id))
        .all(&state.db)
        .await?;
    let claims = AccessClaims {
        iss: state.auth.verifier.issuer.clone(),
        aud: state.auth.verifier.audience.clone(),
        sub: user.id.to_string(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: expires.timestamp(),
        jti: Uuid::new_v4().to_string(),
        kind: PrincipalKind::Person,
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        departments: departments
            .iter()
            .map(|d| d.department_id.to_string())
            .collect(),
        email_verified: user.email_confirmed_at.is_some(),
    };
    Ok((state.keys.sign(&claims).await?, expires))
}

/// Exchanges a refresh token for a new session. A token used before means it
/// was stolen or replayed: its whole family is revoked.
pub async fn refresh(state: &State, token: &str) -> Result<proto::Session> {
    let invalid = || Error::Unauthenticated("the refresh token is not valid".to_owned());
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let row = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(secrets::hash(token.trim())))
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(invalid)?;
    let now = state.clock.now();
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(invalid());
    }
    if row.used_at.is_some() {
        refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::FamilyId.eq(row.family_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        tracing::warn!(user = %row.user_id, family = %row.family_id, "a used refresh token was presented again; the session is revoked");
        return Err(invalid());
    }
    let user = users::Entity::find_by_id(row.user_id)
        .one(&txn)
        .await?
        .ok_or_else(invalid)?;
    if UserStatus::parse(&user.status) == UserStatus::Deleted {
        return Err(invalid());
    }
    if is_still_blocked(&user, state) {
        return Err(Error::PermissionDenied("the account is blocked".to_owned()));
    }
    let family = row.family_id;
    let mut used = row.into_active_model();
    used.used_at = Set(Some(now));
    used.update(&txn).await?;
    let refresh = new_refresh_token(state, &txn, &user, family).await?;
    txn.commit().await?;
    session(state, &user, refresh).await
}

/// Ends the session a refresh token belongs to. Unknown tokens are fine:
/// the outcome is the same, no session.
pub async fn logout(state: &State, token: &str) -> Result<()> {
    let row = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(secrets::hash(token.trim())))
        .one(&state.db)
        .await?;
    if let Some(row) = row {
        refresh_tokens::Entity::update_many()
            .col_expr(
                refresh_tokens::Column::RevokedAt,
                Expr::value(state.clock.now()),
            )
            .filter(refresh_tokens::Column::FamilyId.eq(row.family_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&state.db)
            .await?;
    }
    Ok(())
}

/// Changes the caller's password after checking the current one; every
/// session ends (the caller signs in again).
pub async fn change_password(
    state: &State,
    user: &users::Model,
    current: &str,
    new: &str,
) -> Result<()> {
    let policy = policy::current(state).await?.policy;
    let new = Password::parse("new_password", new, policy.min_password_length as usize)?;
    let reservation = state
        .throttle
        .reserve(&Throttle::account(&user.email), None)
        .await?;
    let hash = credentials::Entity::find_by_id(user.id)
        .one(&state.db)
        .await?
        .map(|c| c.password_hash);
    if !state
        .passwords
        .verify(&Password::presented(current), hash.as_deref())
        .await?
    {
        return Err(Error::invalid(
            "current_password",
            "is not the current password",
        ));
    }
    state.throttle.release(reservation).await?;
    let new_hash = state.passwords.hash(&new).await?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    set_password(state, &txn, user.id, new_hash).await?;
    revoke_all_sessions(state, &txn, user.id).await?;
    txn.commit().await?;
    Ok(())
}

/// A short-lived token for a service that presents its client credentials.
pub async fn service_token(
    state: &State,
    client_id: &str,
    secret: &str,
) -> Result<proto::ServiceToken> {
    use secrecy::ExposeSecret;
    let known = state
        .settings
        .service_clients
        .iter()
        .find(|(name, _)| name == client_id)
        .is_some_and(|(_, expected)| {
            secrets::same(
                &secrets::hash(expected.expose_secret()),
                &secrets::hash(secret),
            )
        });
    if !known {
        return Err(Error::Unauthenticated(
            "unknown client or wrong secret".to_owned(),
        ));
    }
    let now = state.clock.now();
    let expires = now + to_chrono(state.settings.service_token_ttl);
    let claims = AccessClaims {
        iss: state.auth.verifier.issuer.clone(),
        aud: state.auth.verifier.audience.clone(),
        sub: client_id.to_owned(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: expires.timestamp(),
        jti: Uuid::new_v4().to_string(),
        kind: PrincipalKind::Service,
        roles: Vec::new(),
        departments: Vec::new(),
        email_verified: false,
    };
    Ok(proto::ServiceToken {
        access_token: state.keys.sign(&claims).await?,
        expires_at: Some(timestamp(expires)),
    })
}
