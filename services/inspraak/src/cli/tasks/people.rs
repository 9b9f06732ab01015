//! `inspraak users`: people, platform roles and the core team.

use inspraak_proto::identity::v1::{
    GetGovernanceOverviewRequest, GetUserRequest, GrantRoleRequest, ListUsersRequest, PlatformRole,
    RevokeRoleRequest, User, UserStatus,
};
use serde_json::{Value, json};

use crate::cli::api::{Api, call};
use crate::cli::failure::{Failure, Kind, Result};
use crate::cli::output::Outcome;
use crate::cli::tasks::all_pages;
use crate::cli::words::{enum_word, time};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Role {
    /// Platform admin: a member of the core team (capped)
    Admin,
    CommunicationOfficer,
    DecisionMaker,
}

impl Role {
    fn wire(self) -> PlatformRole {
        match self {
            Self::Admin => PlatformRole::PlatformAdmin,
            Self::CommunicationOfficer => PlatformRole::CommunicationOfficer,
            Self::DecisionMaker => PlatformRole::DecisionMaker,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// People, filtered by role or by the start of their address or name
    #[command(
        after_help = "Examples:\n  inspraak users list --role admin\n  inspraak users list --query jan -o json"
    )]
    List {
        #[arg(long, value_enum)]
        role: Option<Role>,
        #[arg(long)]
        query: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// One person, by e-mail address or id
    #[command(after_help = "Example:\n  inspraak users show jan@city.example")]
    Show { user: String },
    /// Grant a platform role (the core team is capped)
    #[command(
        after_help = "Examples:\n  inspraak users grant an@city.example admin --reviewer\n  inspraak users grant mayor@city.example decision-maker"
    )]
    Grant {
        user: String,
        #[arg(value_enum)]
        role: Role,
        /// Admins only: may review project proposals
        #[arg(long)]
        reviewer: bool,
    },
    /// Revoke a platform role
    #[command(after_help = "Example:\n  inspraak users revoke an@city.example admin")]
    Revoke {
        user: String,
        #[arg(value_enum)]
        role: Role,
    },
    /// The core team, its cap and what needs attention
    #[command(
        name = "core-team",
        after_help = "Example:\n  inspraak users core-team"
    )]
    CoreTeam,
}

pub fn roles(user: &User) -> Vec<String> {
    user.roles
        .iter()
        .map(|grant| {
            let name = PlatformRole::try_from(grant.role)
                .map(|r| enum_word(r.as_str_name(), "PLATFORM_ROLE_"))
                .unwrap_or_else(|_| "unknown".into());
            if grant.project_reviewer {
                format!("{name} (reviewer)")
            } else {
                name
            }
        })
        .collect()
}

fn status(user: &User) -> String {
    UserStatus::try_from(user.status)
        .map(|s| enum_word(s.as_str_name(), "USER_STATUS_"))
        .unwrap_or_default()
}

pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "email_confirmed": user.email_confirmed,
        "name": user.display_name,
        "locale": user.locale,
        "status": status(user),
        "roles": roles(user),
        "department_ids": user.department_ids,
        "created_at": time(&user.created_at),
    })
}

fn users_table(users: &[User]) -> Outcome {
    let rows = users
        .iter()
        .map(|u| {
            vec![
                u.email.clone(),
                u.display_name.clone(),
                roles(u).join(", "),
                status(u),
                u.id.clone(),
            ]
        })
        .collect();
    Outcome::table(
        vec!["email", "name", "roles", "status", "id"],
        rows,
        json!(users.iter().map(user_json).collect::<Vec<_>>()),
    )
}

/// A person named by e-mail address (exactly, whatever the case) or by id.
pub async fn find_user(api: &mut Api, who: &str) -> Result<User> {
    if !who.contains('@') {
        return call!(
            api,
            identity.get_user(GetUserRequest { id: who.to_owned() }),
            "reading the person"
        );
    }
    let found = call!(
        api,
        identity.list_users(ListUsersRequest {
            query: who.to_owned(),
            page_size: 50,
            ..ListUsersRequest::default()
        }),
        "looking the person up"
    )?;
    found
        .users
        .into_iter()
        .find(|u| u.email.eq_ignore_ascii_case(who))
        .ok_or_else(|| Failure::new(Kind::NotFound, format!("no one with the address {who}")))
}

pub async fn run(api: &mut Api, command: UsersCommand) -> Result<Outcome> {
    match command {
        UsersCommand::List { role, query, limit } => {
            let role = role.map_or(0, |r| r.wire() as i32);
            let query = query.unwrap_or_default();
            let users = all_pages!(
                limit,
                |token| call!(
                    api,
                    identity.list_users(ListUsersRequest {
                        page_size: 100,
                        page_token: token.clone(),
                        role,
                        query: query.clone(),
                        ..ListUsersRequest::default()
                    }),
                    "listing people"
                )?,
                users
            );
            Ok(users_table(&users))
        }
        UsersCommand::Show { user } => {
            let user = find_user(api, &user).await?;
            Ok(Outcome::record(
                vec![
                    ("email", user.email.clone()),
                    ("name", user.display_name.clone()),
                    ("id", user.id.clone()),
                    ("status", status(&user)),
                    ("confirmed", user.email_confirmed.to_string()),
                    ("roles", roles(&user).join(", ")),
                    ("departments", user.department_ids.join(", ")),
                    ("since", time(&user.created_at)),
                ],
                user_json(&user),
            ))
        }
        UsersCommand::Grant {
            user,
            role,
            reviewer,
        } => {
            let target = find_user(api, &user).await?;
            let updated = call!(
                api,
                identity.grant_role(GrantRoleRequest {
                    user_id: target.id.clone(),
                    role: role.wire() as i32,
                    project_reviewer: reviewer,
                }),
                "granting the role"
            )?;
            Ok(Outcome::text(
                format!("{} now has: {}", updated.email, roles(&updated).join(", ")),
                user_json(&updated),
            ))
        }
        UsersCommand::Revoke { user, role } => {
            let target = find_user(api, &user).await?;
            let updated = call!(
                api,
                identity.revoke_role(RevokeRoleRequest {
                    user_id: target.id.clone(),
                    role: role.wire() as i32,
                }),
                "revoking the role"
            )?;
            let left = roles(&updated);
            Ok(Outcome::text(
                format!(
                    "{} now has: {}",
                    updated.email,
                    if left.is_empty() {
                        "no platform role".to_owned()
                    } else {
                        left.join(", ")
                    }
                ),
                user_json(&updated),
            ))
        }
        UsersCommand::CoreTeam => {
            let overview = call!(
                api,
                identity.get_governance_overview(GetGovernanceOverviewRequest {}),
                "reading the core team"
            )?;
            let warnings: Vec<String> = overview
                .warnings
                .iter()
                .map(|w| format!("warning: {} ({})", w.message, w.code))
                .collect();
            let mut outcome = users_table(&overview.core_team);
            outcome.value = json!({
                "core_team": overview.core_team.iter().map(user_json).collect::<Vec<_>>(),
                "cap": overview.core_team_cap,
                "communication_officers": overview.communication_officers,
                "decision_makers": overview.decision_makers,
                "project_reviewers": overview.project_reviewers,
                "departments_in_core_team": overview.departments_in_core_team,
                "warnings": overview.warnings.iter().map(|w| json!({"code": w.code, "message": w.message})).collect::<Vec<_>>(),
            });
            let mut footer = format!(
                "{} of at most {} admins; {} communication officers, {} decision-makers, {} reviewers",
                overview.core_team.len(),
                overview.core_team_cap,
                overview.communication_officers,
                overview.decision_makers,
                overview.project_reviewers
            );
            for warning in warnings {
                footer.push('\n');
                footer.push_str(&warning);
            }
            Ok(outcome.with_footer(footer))
        }
    }
}
