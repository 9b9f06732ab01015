//! `inspraak inputs`: residents' input that still waits for an official
//! answer, and the part of it past its answer deadline.

use std::io::Write;

use inspraak_proto::contributions::v1::{
    GetStatisticsRequest, Input, InputStatus, ListInputsRequest, ListOverdueRequest,
};
use serde_json::{Value, json};

use crate::cli::api::{Api, call};
use crate::cli::failure::{Failure, Result};
use crate::cli::output::Outcome;
use crate::cli::progress::Progress;
use crate::cli::tasks::all_pages;
use crate::cli::tasks::projects::{self, State};
use crate::cli::words::{cell, enum_word, localized, time};

#[derive(Debug, clap::Subcommand)]
pub enum InputsCommand {
    /// Inputs without official feedback yet, per published project
    #[command(
        after_help = "Examples:\n  inspraak inputs awaiting\n  inspraak inputs awaiting --project 0190f3a2-… -o json"
    )]
    Awaiting {
        /// Only this project
        #[arg(long)]
        project: Option<String>,
        /// At most this many per project
        #[arg(long, default_value_t = 500)]
        limit: usize,
    },
    /// Inputs past their answer deadline without feedback, most overdue first
    #[command(after_help = "Example:\n  inspraak inputs overdue")]
    Overdue {
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value_t = 500)]
        limit: usize,
    },
    /// Every input of a project, one JSON object per line, with progress
    #[command(after_help = "\
Examples:
  inspraak inputs export 0190f3a2-… --file market-square.jsonl
  inspraak inputs export 0190f3a2-… | jq -r .title")]
    Export {
        project: String,
        /// Write to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        file: Option<std::path::PathBuf>,
    },
}

fn status(input: &Input) -> String {
    InputStatus::try_from(input.status)
        .map(|s| enum_word(s.as_str_name(), "INPUT_STATUS_"))
        .unwrap_or_default()
}

pub fn input_json(input: &Input, project_title: &str) -> Value {
    json!({
        "id": input.id,
        "project_id": input.project_id,
        "project": project_title,
        "title": input.title,
        "status": status(input),
        "feedback_given": input.feedback_given,
        "overdue": input.overdue,
        "answer_deadline": time(&input.answer_deadline),
        "created_at": time(&input.created_at),
        "reactions_up": input.reactions_up,
        "comments": input.comment_count,
    })
}

/// The projects to look in: the one named, or every published one.
async fn projects_to_scan(api: &mut Api, project: Option<String>) -> Result<Vec<(String, String)>> {
    Ok(match project {
        Some(id) => {
            let project = call!(
                api,
                projects.get_project(inspraak_proto::projects::v1::GetProjectRequest { id }),
                "reading the project"
            )?;
            vec![(project.id.clone(), localized(&project.title))]
        }
        None => projects::list(api, Some(State::Published), false, 1000)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), localized(&p.title)))
            .collect(),
    })
}

fn table(inputs: &[(Input, String)], footer: String) -> Outcome {
    let rows = inputs
        .iter()
        .map(|(input, project)| {
            vec![
                cell(project, 30),
                cell(&input.title, 40),
                status(input),
                time(&input.answer_deadline),
                if input.overdue { "overdue" } else { "" }.to_owned(),
                input.id.clone(),
            ]
        })
        .collect();
    Outcome::table(
        vec!["project", "input", "status", "answer by", "", "id"],
        rows,
        json!(
            inputs
                .iter()
                .map(|(i, p)| input_json(i, p))
                .collect::<Vec<_>>()
        ),
    )
    .with_footer(footer)
}

/// Writes every input of `project_id` as JSON lines, page by page, so a
/// project with a hundred thousand inputs never sits in memory at once.
async fn export(
    api: &mut Api,
    project_id: String,
    file: Option<std::path::PathBuf>,
    quiet: bool,
) -> Result<Outcome> {
    let project = call!(
        api,
        projects.get_project(inspraak_proto::projects::v1::GetProjectRequest {
            id: project_id.clone()
        }),
        "reading the project"
    )?;
    let title = localized(&project.title);
    // The counters give the total for the progress bar without a scan.
    let statistics = call!(
        api,
        contributions.get_statistics(GetStatisticsRequest {
            project_id: project_id.clone(),
            phase_id: String::new(),
        }),
        "reading the project's statistics"
    )?;
    let target = file
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    let fail = |e: std::io::Error| Failure::other(format!("writing {target}: {e}"));
    let mut out: Box<dyn Write> = match &file {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(fail)?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // On standard output the lines are the result: no progress in between
    // unless it goes to a terminal on stderr.
    let mut progress = Progress::new(
        format!("exporting {title}"),
        u64::try_from(statistics.inputs).unwrap_or(0),
        quiet,
    );
    let mut written = 0u64;
    let mut token = String::new();
    loop {
        let page = call!(
            api,
            contributions.list_inputs(ListInputsRequest {
                project_id: project_id.clone(),
                page_size: 100,
                page_token: token.clone(),
                ..ListInputsRequest::default()
            }),
            "listing inputs"
        )?;
        for input in &page.inputs {
            let mut value = input_json(input, &title);
            value["body"] = json!(input.body);
            value["topics"] = json!(input.topics);
            value["author_id"] = json!(input.author_id);
            serde_json::to_writer(&mut out, &value)
                .map_err(|e| Failure::other(format!("writing {target}: {e}")))?;
            out.write_all(b"\n").map_err(fail)?;
        }
        written += page.inputs.len() as u64;
        progress.advance(page.inputs.len() as u64);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    out.flush().map_err(fail)?;
    drop(out);
    progress.finish();
    let summary = json!({"project_id": project_id, "inputs": written, "file": file});
    Ok(match file {
        Some(path) => Outcome::text(
            format!(
                "{written} inputs of {title:?} written to {}",
                path.display()
            ),
            summary,
        ),
        // The lines were the output; a table or JSON after them would spoil it.
        None => Outcome::silent(summary),
    })
}

pub async fn run(api: &mut Api, command: InputsCommand, quiet: bool) -> Result<Outcome> {
    match command {
        InputsCommand::Export { project, file } => export(api, project, file, quiet).await,
        InputsCommand::Awaiting { project, limit } => {
            let mut awaiting = Vec::new();
            for (project_id, title) in projects_to_scan(api, project).await? {
                let inputs = all_pages!(
                    usize::MAX,
                    |token| call!(
                        api,
                        contributions.list_inputs(ListInputsRequest {
                            project_id: project_id.clone(),
                            page_size: 100,
                            page_token: token.clone(),
                            ..ListInputsRequest::default()
                        }),
                        "listing inputs"
                    )?,
                    inputs
                );
                awaiting.extend(
                    inputs
                        .into_iter()
                        .filter(|i| !i.feedback_given)
                        .take(limit)
                        .map(|i| (i, title.clone())),
                );
            }
            let overdue = awaiting.iter().filter(|(i, _)| i.overdue).count();
            let footer = format!(
                "{} inputs await an answer, {overdue} of them past their deadline",
                awaiting.len()
            );
            Ok(table(&awaiting, footer))
        }
        InputsCommand::Overdue { project, limit } => {
            let mut overdue = Vec::new();
            let mut total = 0;
            for (project_id, title) in projects_to_scan(api, project).await? {
                let mut token = String::new();
                let mut taken = 0;
                loop {
                    let page = call!(
                        api,
                        answers.list_overdue(ListOverdueRequest {
                            project_id: project_id.clone(),
                            page_size: 100,
                            page_token: token.clone(),
                        }),
                        "listing overdue inputs"
                    )?;
                    if token.is_empty() {
                        total += page.total;
                    }
                    for input in page.inputs {
                        if taken < limit {
                            overdue.push((input, title.clone()));
                            taken += 1;
                        }
                    }
                    if page.next_page_token.is_empty() || taken >= limit {
                        break;
                    }
                    token = page.next_page_token;
                }
            }
            Ok(table(
                &overdue,
                format!("{total} inputs past their answer deadline"),
            ))
        }
    }
}
