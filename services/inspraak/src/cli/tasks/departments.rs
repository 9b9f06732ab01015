//! `inspraak departments`: the city's departments and who belongs to them.

use inspraak_proto::identity::v1::{
    AddDepartmentMemberRequest, ArchiveDepartmentRequest, CreateDepartmentRequest, Department,
    ListDepartmentsRequest, RemoveDepartmentMemberRequest, UpdateDepartmentRequest,
};
use serde_json::{Value, json};

use crate::cli::api::{Api, call};
use crate::cli::failure::{Failure, Kind, Result};
use crate::cli::output::Outcome;
use crate::cli::tasks::people::find_user;
use crate::cli::words::time;

#[derive(Debug, clap::Subcommand)]
pub enum DepartmentsCommand {
    /// Departments, active first
    #[command(after_help = "Example:\n  inspraak departments list --archived")]
    List {
        /// Include archived departments
        #[arg(long)]
        archived: bool,
    },
    /// Create a department (running it again with the same name is harmless)
    #[command(after_help = "Example:\n  inspraak departments create \"Public space\"")]
    Create { name: String },
    /// Rename a department (named by its current name or id)
    #[command(
        after_help = "Example:\n  inspraak departments rename \"Public space\" \"Public space and greenery\""
    )]
    Rename { department: String, name: String },
    /// Archive a department, by name or id
    #[command(after_help = "Example:\n  inspraak departments archive \"Public space\"")]
    Archive { department: String },
    /// Add a person (e-mail or id) to a department (name or id)
    #[command(
        name = "add-member",
        after_help = "Example:\n  inspraak departments add-member \"Public space\" jan@city.example"
    )]
    AddMember { department: String, user: String },
    /// Remove a person from a department
    #[command(
        name = "remove-member",
        after_help = "Example:\n  inspraak departments remove-member \"Public space\" jan@city.example"
    )]
    RemoveMember { department: String, user: String },
}

pub fn department_json(d: &Department) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "archived": d.archived,
        "members": d.member_ids.len(),
        "member_ids": d.member_ids,
        "created_at": time(&d.created_at),
    })
}

pub async fn list(api: &mut Api, archived: bool) -> Result<Vec<Department>> {
    Ok(call!(
        api,
        identity.list_departments(ListDepartmentsRequest {
            include_archived: archived
        }),
        "listing departments"
    )?
    .departments)
}

/// A department named by id or, ignoring case, by name.
async fn find(api: &mut Api, named: &str) -> Result<Department> {
    list(api, true)
        .await?
        .into_iter()
        .find(|d| d.id == named || d.name.eq_ignore_ascii_case(named))
        .ok_or_else(|| Failure::new(Kind::NotFound, format!("no department {named:?}")))
}

/// The request id of a department's creation: the same name gives the same
/// id, so running a script twice creates it once.
pub fn request_id(kind: &str, key: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("inspraak-cli:{kind}:{key}").as_bytes(),
    )
    .to_string()
}

pub async fn create(api: &mut Api, name: &str) -> Result<Department> {
    call!(
        api,
        identity.create_department(CreateDepartmentRequest {
            name: name.to_owned(),
            request_id: request_id("department", &name.to_lowercase()),
        }),
        "creating the department"
    )
}

pub async fn run(api: &mut Api, command: DepartmentsCommand) -> Result<Outcome> {
    let department = match command {
        DepartmentsCommand::List { archived } => {
            let departments = list(api, archived).await?;
            let rows = departments
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        if d.archived { "archived" } else { "active" }.to_owned(),
                        d.member_ids.len().to_string(),
                        d.id.clone(),
                    ]
                })
                .collect();
            return Ok(Outcome::table(
                vec!["name", "state", "members", "id"],
                rows,
                json!(departments.iter().map(department_json).collect::<Vec<_>>()),
            ));
        }
        DepartmentsCommand::Create { name } => create(api, &name).await?,
        DepartmentsCommand::Rename { department, name } => {
            // The rename names the version read: a concurrent change is
            // refused (ABORTED) instead of overwritten.
            let current = find(api, &department).await?;
            call!(
                api,
                identity.update_department(UpdateDepartmentRequest {
                    id: current.id,
                    name,
                    etag: current.etag,
                }),
                "renaming the department"
            )?
        }
        DepartmentsCommand::Archive { department } => {
            let id = find(api, &department).await?.id;
            call!(
                api,
                identity.archive_department(ArchiveDepartmentRequest { id }),
                "archiving the department"
            )?
        }
        DepartmentsCommand::AddMember { department, user } => {
            let department_id = find(api, &department).await?.id;
            let user_id = find_user(api, &user).await?.id;
            call!(
                api,
                identity.add_department_member(AddDepartmentMemberRequest {
                    department_id,
                    user_id
                }),
                "adding the member"
            )?
        }
        DepartmentsCommand::RemoveMember { department, user } => {
            let department_id = find(api, &department).await?.id;
            let user_id = find_user(api, &user).await?.id;
            call!(
                api,
                identity.remove_department_member(RemoveDepartmentMemberRequest {
                    department_id,
                    user_id
                }),
                "removing the member"
            )?
        }
    };
    Ok(Outcome::text(
        format!(
            "department {} ({}): {}, {} members",
            department.name,
            department.id,
            if department.archived {
                "archived"
            } else {
                "active"
            },
            department.member_ids.len()
        ),
        department_json(&department),
    ))
}
