//! Who is calling, as identity sees it: the token says who, identity's own
//! tables say whether that account may still act (blocked, deleted) and which
//! roles it holds now (a revoked role stops at once here, not when the token
//! expires).

use inspraak_kit::auth::{PlatformRole, Principal, PrincipalKind};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::UserStatus;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::entities::{role_grants, users};

pub enum Caller {
    Person {
        user: Box<users::Model>,
        roles: Vec<PlatformRole>,
    },
    Service {
        name: String,
    },
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Person { roles, .. } if roles.contains(&PlatformRole::PlatformAdmin))
    }

    pub fn is_service(&self) -> bool {
        matches!(self, Self::Service { .. })
    }

    /// The caller's user id, for people.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::Person { user, .. } => Some(user.id),
            Self::Service { .. } => None,
        }
    }

    /// How the caller is named in audit records.
    pub fn audit_name(&self) -> String {
        match self {
            Self::Person { user, .. } => user.id.to_string(),
            Self::Service { name } => format!("service:{name}"),
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "only platform admins may do this".to_owned(),
            ))
        }
    }

    pub fn require_admin_or_service(&self) -> Result<()> {
        if self.is_admin() || self.is_service() {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "only platform admins may do this".to_owned(),
            ))
        }
    }

    /// The person behind the call, or PERMISSION_DENIED for services.
    pub fn person(&self) -> Result<&users::Model> {
        match self {
            Self::Person { user, .. } => Ok(user),
            Self::Service { .. } => Err(Error::PermissionDenied(
                "this call is for people".to_owned(),
            )),
        }
    }
}

/// The verified caller, or UNAUTHENTICATED / PERMISSION_DENIED.
pub async fn caller(state: &State, principal: Option<&Principal>) -> Result<Caller> {
    let principal = principal.ok_or_else(|| Error::Unauthenticated("sign in first".to_owned()))?;
    match principal.kind {
        PrincipalKind::Service => Ok(Caller::Service {
            name: principal.subject.clone(),
        }),
        PrincipalKind::Person => {
            let id = Uuid::parse_str(&principal.subject)
                .map_err(|_| Error::Unauthenticated("invalid access token".to_owned()))?;
            let user = users::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(|| Error::Unauthenticated("the account no longer exists".to_owned()))?;
            match UserStatus::parse(&user.status) {
                UserStatus::Deleted => {
                    return Err(Error::Unauthenticated(
                        "the account no longer exists".to_owned(),
                    ));
                }
                UserStatus::Blocked if is_still_blocked(&user, state) => {
                    return Err(Error::PermissionDenied("the account is blocked".to_owned()));
                }
                _ => {}
            }
            let roles = roles_of(state, id).await?;
            Ok(Caller::Person {
                user: Box::new(user),
                roles,
            })
        }
    }
}

/// A block with an expiry ends by itself.
pub fn is_still_blocked(user: &users::Model, state: &State) -> bool {
    UserStatus::parse(&user.status) == UserStatus::Blocked
        && user
            .blocked_until
            .is_none_or(|until| until > state.clock.now())
}

pub async fn roles_of(state: &State, user: Uuid) -> Result<Vec<PlatformRole>> {
    Ok(role_grants::Entity::find()
        .filter(role_grants::Column::UserId.eq(user))
        .all(&state.db)
        .await?
        .into_iter()
        .filter_map(|grant| grant.role.parse().ok())
        .collect())
}
