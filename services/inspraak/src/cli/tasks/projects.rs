//! `inspraak projects`: list, show, publish, archive.

use inspraak_proto::projects::v1::{
    ArchiveProjectRequest, GetProjectRequest, ListProjectsRequest, Phase, Project, ProjectState,
    PublishProjectRequest, Visibility, participation_method,
};
use serde_json::{Value, json};

use crate::cli::api::{Api, call};
use crate::cli::failure::Result;
use crate::cli::output::Outcome;
use crate::cli::tasks::all_pages;
use crate::cli::words::{cell, enum_word, localized, time};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum State {
    Draft,
    Published,
    Archived,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProjectsCommand {
    /// Projects, newest first
    #[command(
        after_help = "Examples:\n  inspraak projects list --state draft\n  inspraak projects list --active -o json"
    )]
    List {
        #[arg(long, value_enum)]
        state: Option<State>,
        /// Only projects active now (published, last phase not ended)
        #[arg(long)]
        active: bool,
        /// At most this many
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// One project with its phases and team
    #[command(after_help = "Example:\n  inspraak projects show 0190f3a2-…")]
    Show { id: String },
    /// Publish a draft project (refused when the cap on active projects is
    /// reached; the refusal names the active projects)
    #[command(after_help = "Example:\n  inspraak projects publish 0190f3a2-…")]
    Publish { id: String },
    /// Archive a project with its results
    #[command(after_help = "Example:\n  inspraak projects archive 0190f3a2-…")]
    Archive { id: String },
}

fn state(project: &Project) -> String {
    ProjectState::try_from(project.state)
        .map(|s| enum_word(s.as_str_name(), "PROJECT_STATE_"))
        .unwrap_or_default()
}

pub fn method(phase: &Phase) -> &'static str {
    match phase.method.as_ref().and_then(|m| m.method.as_ref()) {
        Some(participation_method::Method::Information(_)) => "information",
        Some(participation_method::Method::Ideation(_)) => "ideation",
        Some(participation_method::Method::Proposals(_)) => "proposals",
        Some(participation_method::Method::Voting(_)) => "voting",
        Some(participation_method::Method::Poll(_)) => "poll",
        None => "",
    }
}

fn phase_json(phase: &Phase) -> Value {
    json!({
        "id": phase.id,
        "title": localized(&phase.title),
        "method": method(phase),
        "starts_at": time(&phase.starts_at),
        "ends_at": time(&phase.ends_at),
    })
}

pub fn project_json(p: &Project) -> Value {
    json!({
        "id": p.id,
        "title": localized(&p.title),
        "state": state(p),
        "active": p.active,
        "visibility": Visibility::try_from(p.visibility).map(|v| enum_word(v.as_str_name(), "VISIBILITY_")).unwrap_or_default(),
        "department_id": p.department_id,
        "folder_id": p.folder_id,
        "topics": p.topics,
        "manager_ids": p.team.as_ref().map(|t| t.manager_ids.clone()).unwrap_or_default(),
        "phases": p.phases.iter().map(phase_json).collect::<Vec<_>>(),
        "proposal_id": p.proposal_id,
        "published_at": time(&p.published_at),
        "created_at": time(&p.created_at),
    })
}

pub async fn list(
    api: &mut Api,
    state: Option<State>,
    active_only: bool,
    limit: usize,
) -> Result<Vec<Project>> {
    let state = match state {
        None => ProjectState::Unspecified,
        Some(State::Draft) => ProjectState::Draft,
        Some(State::Published) => ProjectState::Published,
        Some(State::Archived) => ProjectState::Archived,
    } as i32;
    Ok(all_pages!(
        limit,
        |token| call!(
            api,
            projects.list_projects(ListProjectsRequest {
                page_size: 100,
                page_token: token.clone(),
                state,
                active_only,
                ..ListProjectsRequest::default()
            }),
            "listing projects"
        )?,
        projects
    ))
}

fn show(project: &Project) -> Outcome {
    let mut fields = vec![
        ("title", localized(&project.title)),
        ("id", project.id.clone()),
        ("state", state(project)),
        ("active", project.active.to_string()),
        ("department", project.department_id.clone()),
        (
            "managers",
            project
                .team
                .as_ref()
                .map(|t| t.manager_ids.join(", "))
                .unwrap_or_default(),
        ),
        ("published", time(&project.published_at)),
    ];
    let phases: Vec<String> = project
        .phases
        .iter()
        .map(|phase| {
            format!(
                "{} ({}) {} → {}",
                localized(&phase.title),
                method(phase),
                time(&phase.starts_at),
                match time(&phase.ends_at) {
                    end if end.is_empty() => "open-ended".to_owned(),
                    end => end,
                }
            )
        })
        .collect();
    fields.push((
        "phases",
        if phases.is_empty() {
            "(none)".to_owned()
        } else {
            phases.join("\n")
        },
    ));
    fields.push(("description", cell(&localized(&project.description), 200)));
    Outcome::record(fields, project_json(project))
}

pub async fn run(api: &mut Api, command: ProjectsCommand) -> Result<Outcome> {
    match command {
        ProjectsCommand::List {
            state: wanted,
            active,
            limit,
        } => {
            let projects = list(api, wanted, active, limit).await?;
            let rows = projects
                .iter()
                .map(|p| {
                    vec![
                        cell(&localized(&p.title), 40),
                        state(p),
                        if p.active { "yes" } else { "" }.to_owned(),
                        p.phases.len().to_string(),
                        time(&p.published_at),
                        p.id.clone(),
                    ]
                })
                .collect();
            Ok(Outcome::table(
                vec!["title", "state", "active", "phases", "published", "id"],
                rows,
                json!(projects.iter().map(project_json).collect::<Vec<_>>()),
            ))
        }
        ProjectsCommand::Show { id } => {
            let project = call!(
                api,
                projects.get_project(GetProjectRequest { id }),
                "reading the project"
            )?;
            Ok(show(&project))
        }
        ProjectsCommand::Publish { id } => {
            let project = call!(
                api,
                projects.publish_project(PublishProjectRequest { id }),
                "publishing the project"
            )?;
            Ok(Outcome::text(
                format!(
                    "published {:?} ({}); followers are told",
                    localized(&project.title),
                    project.id
                ),
                project_json(&project),
            ))
        }
        ProjectsCommand::Archive { id } => {
            let project = call!(
                api,
                projects.archive_project(ArchiveProjectRequest { id }),
                "archiving the project"
            )?;
            Ok(Outcome::text(
                format!("archived {:?} ({})", localized(&project.title), project.id),
                project_json(&project),
            ))
        }
    }
}
