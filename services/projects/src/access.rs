//! Who is calling, and what they may do to a project. Platform roles come
//! from the token; project roles (manager, communication contact) are this
//! service's own data.

use inspraak_kit::auth::{PlatformRole, Principal};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::entities::project_team;

pub const MANAGER: &str = "manager";
pub const COMMUNICATION_CONTACT: &str = "communication_contact";

/// The caller: anonymous, or a verified principal.
pub struct Caller<'a>(pub Option<&'a Principal>);

impl Caller<'_> {
    pub fn principal(&self) -> Result<&Principal> {
        self.0
            .ok_or_else(|| Error::Unauthenticated("sign in first".to_owned()))
    }

    pub fn subject(&self) -> Option<&str> {
        self.0.map(|p| p.subject.as_str())
    }

    pub fn is_admin(&self) -> bool {
        self.0.is_some_and(Principal::is_admin)
    }

    pub fn has_role(&self, role: PlatformRole) -> bool {
        self.0.is_some_and(|p| p.has_role(role))
    }

    pub fn require_admin(&self) -> Result<()> {
        self.principal()?;
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "only platform admins may do this".to_owned(),
            ))
        }
    }

    /// The caller's roles in `project`.
    pub async fn project_roles<C: ConnectionTrait>(
        &self,
        db: &C,
        project: Uuid,
    ) -> Result<Vec<String>> {
        let Some(subject) = self.subject() else {
            return Ok(Vec::new());
        };
        Ok(project_team::Entity::find()
            .filter(project_team::Column::ProjectId.eq(project))
            .filter(project_team::Column::UserId.eq(subject))
            .all(db)
            .await?
            .into_iter()
            .map(|member| member.role)
            .collect())
    }

    /// Admins and the project's managers.
    pub async fn require_manager<C: ConnectionTrait>(&self, db: &C, project: Uuid) -> Result<()> {
        self.principal()?;
        if self.is_admin()
            || self
                .project_roles(db, project)
                .await?
                .iter()
                .any(|r| r == MANAGER)
        {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "only this project's managers and platform admins may do this".to_owned(),
            ))
        }
    }

    /// Managers, the project's communication contact and communication
    /// officers.
    pub async fn require_staff<C: ConnectionTrait>(&self, db: &C, project: Uuid) -> Result<()> {
        self.principal()?;
        if self.is_admin()
            || self.has_role(PlatformRole::CommunicationOfficer)
            || !self.project_roles(db, project).await?.is_empty()
        {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "only this project's team may do this".to_owned(),
            ))
        }
    }
}
