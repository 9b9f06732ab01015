//! Who is calling, and what they may do in a project. Platform roles come
//! from the token; project roles come from the projection of projects'
//! teams, so they hold while projects is down.

use inspraak_kit::auth::Principal;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::entities::{blocked_people, projected_projects, projected_team};

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

    /// The caller's roles in `project`, as the projection knows them.
    pub async fn project_roles<C: ConnectionTrait>(
        &self,
        db: &C,
        project: Uuid,
    ) -> Result<Vec<String>> {
        let Some(subject) = self.subject() else {
            return Ok(Vec::new());
        };
        Ok(projected_team::Entity::find()
            .filter(projected_team::Column::ProjectId.eq(project))
            .filter(projected_team::Column::UserId.eq(subject))
            .all(db)
            .await?
            .into_iter()
            .map(|member| member.role)
            .collect())
    }

    /// Platform admins and the project's managers.
    pub async fn is_manager<C: ConnectionTrait>(&self, db: &C, project: Uuid) -> Result<bool> {
        Ok(self.is_admin()
            || self
                .project_roles(db, project)
                .await?
                .iter()
                .any(|r| r == MANAGER))
    }

    /// Whether the caller may see `project`: its team and admins always;
    /// others not a draft, and only as its visibility allows.
    pub async fn may_see<C: ConnectionTrait>(
        &self,
        db: &C,
        project: &projected_projects::Model,
    ) -> Result<bool> {
        let on_team = !self.is_admin() && !self.project_roles(db, project.id).await?.is_empty();
        Ok(self.may_see_as(project, on_team))
    }

    /// [`Self::may_see`], knowing whether the caller is on the project's team.
    pub fn may_see_as(&self, project: &projected_projects::Model, on_team: bool) -> bool {
        if self.is_admin() || on_team {
            return true;
        }
        if project.state == "draft" {
            return false;
        }
        match project.visibility.as_str() {
            "public" => true,
            "registered" => self.0.is_some(),
            _ => false,
        }
    }

    /// The projected project, if the caller may see it; NOT_FOUND otherwise
    /// (a hidden project's existence is not revealed).
    pub async fn visible_project<C: ConnectionTrait>(
        &self,
        db: &C,
        id: Uuid,
    ) -> Result<projected_projects::Model> {
        let project = projected_projects::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or(Error::NotFound("project"))?;
        if self.may_see(db, &project).await? {
            Ok(project)
        } else {
            Err(Error::NotFound("project"))
        }
    }

    /// Whether the caller is on the project's team (a manager or its
    /// communication contact) or a platform admin: who reads internal
    /// comments and the moderation queue.
    pub async fn is_staff<C: ConnectionTrait>(&self, db: &C, project: Uuid) -> Result<bool> {
        Ok(self.is_admin() || !self.project_roles(db, project).await?.is_empty())
    }

    /// Refuses a signed-in person whom identity has blocked (from its
    /// events): FAILED_PRECONDITION until the block ends.
    pub async fn ensure_may_contribute<C: ConnectionTrait>(
        &self,
        db: &C,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let subject = &self.principal()?.subject;
        let block = blocked_people::Entity::find_by_id(subject.clone())
            .one(db)
            .await?;
        Self::unblocked(block.as_ref(), now)
    }

    /// [`Self::ensure_may_contribute`], knowing the caller's block if any.
    pub fn unblocked(
        block: Option<&blocked_people::Model>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        match block {
            Some(block) if block.until.is_none_or(|until| until > now) => {
                Err(Error::FailedPrecondition(
                    "your account is blocked: you cannot contribute for now".to_owned(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Refuses, naming the condition, unless the caller meets `permission`
    /// (as projects' phases name them) for `action` ("posting",
    /// "commenting", "reacting", "voting") in `project`.
    pub async fn ensure_permitted<C: ConnectionTrait>(
        &self,
        db: &C,
        project: Uuid,
        permission: &str,
        action: &str,
    ) -> Result<()> {
        self.principal()?;
        // The team is read only for the permissions that depend on it.
        let manager = !Self::open_to_people(permission) && self.is_manager(db, project).await?;
        self.permitted(permission, action, manager)
    }

    /// Whether `permission` lets people in by what their token says alone.
    fn open_to_people(permission: &str) -> bool {
        matches!(
            permission,
            "everyone" | "registered" | "confirmed_email" | "verified"
        )
    }

    /// [`Self::ensure_permitted`], knowing whether the caller is a platform
    /// admin or one of the project's managers (`manager`).
    pub fn permitted(&self, permission: &str, action: &str, manager: bool) -> Result<()> {
        let refuse = |why: String| Err(Error::FailedPrecondition(why));
        // Every action is by a person: signing in comes first.
        let principal = self.principal()?;
        match permission {
            "everyone" | "registered" => Ok(()),
            "confirmed_email" if principal.email_verified => Ok(()),
            "confirmed_email" => refuse(format!(
                "{action} in this phase needs a confirmed e-mail address"
            )),
            "verified" => refuse(format!("{action} in this phase needs a verified identity")),
            _ if manager || self.is_admin() => Ok(()),
            _ => refuse(format!(
                "{action} in this phase is for admins and the project's managers"
            )),
        }
    }
}
