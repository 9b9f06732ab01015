//! The authenticated caller, as handlers see it.

use std::collections::BTreeSet;
use std::str::FromStr;

use super::PrincipalKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlatformRole {
    /// A member of the core team that runs the platform.
    PlatformAdmin,
    CommunicationOfficer,
    /// Read-only: informed of what residents said and how it was answered.
    DecisionMaker,
}

impl PlatformRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::CommunicationOfficer => "communication_officer",
            Self::DecisionMaker => "decision_maker",
        }
    }
}

impl FromStr for PlatformRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "platform_admin" => Ok(Self::PlatformAdmin),
            "communication_officer" => Ok(Self::CommunicationOfficer),
            "decision_maker" => Ok(Self::DecisionMaker),
            other => Err(format!("unknown platform role {other:?}")),
        }
    }
}

/// Who is calling, proven by a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// A person's id or a service's name, as the token's `sub` says.
    pub subject: String,
    pub roles: BTreeSet<PlatformRole>,
    pub departments: BTreeSet<String>,
    pub token_id: String,
    /// The person confirmed their e-mail address.
    pub email_verified: bool,
}

impl Principal {
    pub fn has_role(&self, role: PlatformRole) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(PlatformRole::PlatformAdmin)
    }

    pub fn is_service(&self) -> bool {
        self.kind == PrincipalKind::Service
    }
}

/// The caller, if the request carried a valid token.
pub fn principal<T>(request: &tonic::Request<T>) -> Option<&Principal> {
    request.extensions().get::<Principal>()
}

/// The caller, or UNAUTHENTICATED for an anonymous request.
pub fn require_principal<T>(request: &tonic::Request<T>) -> Result<&Principal, tonic::Status> {
    principal(request).ok_or_else(|| tonic::Status::unauthenticated("sign in first"))
}
