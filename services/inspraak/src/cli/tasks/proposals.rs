//! `inspraak proposals`: what project managers proposed, and the core
//! team's decisions on it.

use inspraak_proto::projects::v1::{
    GetProposalRequest, ListProposalsRequest, Proposal, ProposalState, ReviewDecision,
    ReviewProposalRequest,
};
use serde_json::{Value, json};

use crate::cli::api::{Api, call};
use crate::cli::failure::Result;
use crate::cli::output::Outcome;
use crate::cli::tasks::all_pages;
use crate::cli::words::{cell, enum_word, localized, time};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum State {
    Submitted,
    ChangesRequested,
    Approved,
    Rejected,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProposalsCommand {
    /// Proposals, filtered by state
    #[command(after_help = "Example:\n  inspraak proposals list --state submitted")]
    List {
        #[arg(long, value_enum)]
        state: Option<State>,
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Approve: a draft project is created with the proposer on its team
    #[command(
        after_help = "Example:\n  inspraak proposals approve 0190f3a2-… --reason \"fits the charter\""
    )]
    Approve {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Reject, with the reason the proposer reads
    #[command(
        after_help = "Example:\n  inspraak proposals reject 0190f3a2-… --reason \"no budget this year\""
    )]
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Send back to the proposer for changes
    #[command(
        name = "request-changes",
        after_help = "Example:\n  inspraak proposals request-changes 0190f3a2-… --reason \"add a timeline\""
    )]
    RequestChanges {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

fn state(p: &Proposal) -> String {
    ProposalState::try_from(p.state)
        .map(|s| enum_word(s.as_str_name(), "PROPOSAL_STATE_"))
        .unwrap_or_default()
}

pub fn proposal_json(p: &Proposal) -> Value {
    json!({
        "id": p.id,
        "title": localized(&p.title),
        "goal": localized(&p.goal),
        "state": state(p),
        "department_id": p.department_id,
        "proposer_id": p.proposer_id,
        "decision_reason": p.decision_reason,
        "project_id": p.project_id,
        "submitted_at": time(&p.submitted_at),
        "decided_at": time(&p.decided_at),
    })
}

pub async fn review(
    api: &mut Api,
    id: String,
    decision: ReviewDecision,
    reason: String,
) -> Result<Outcome> {
    // The decision names the version read, so two reviewers deciding at
    // once cannot both win.
    let proposal = call!(
        api,
        projects.get_proposal(GetProposalRequest { id: id.clone() }),
        "reading the proposal"
    )?;
    let reply = call!(
        api,
        projects.review_proposal(ReviewProposalRequest {
            id,
            decision: decision as i32,
            reason,
            etag: proposal.etag,
        }),
        "reviewing the proposal"
    )?;
    let proposal = reply.proposal.unwrap_or_default();
    let mut value = proposal_json(&proposal);
    let mut text = format!(
        "proposal {:?} is now {}",
        localized(&proposal.title),
        state(&proposal)
    );
    if let Some(project) = &reply.project {
        text.push_str(&format!(
            "; draft project {} created (next: add phases, then `inspraak projects publish {}`)",
            project.id, project.id
        ));
        value["project"] = super::projects::project_json(project);
    }
    Ok(Outcome::text(text, value))
}

pub async fn run(api: &mut Api, command: ProposalsCommand) -> Result<Outcome> {
    match command {
        ProposalsCommand::List {
            state: wanted,
            limit,
        } => {
            let wanted = match wanted {
                None => ProposalState::Unspecified,
                Some(State::Submitted) => ProposalState::Submitted,
                Some(State::ChangesRequested) => ProposalState::ChangesRequested,
                Some(State::Approved) => ProposalState::Approved,
                Some(State::Rejected) => ProposalState::Rejected,
            } as i32;
            let proposals = all_pages!(
                limit,
                |token| call!(
                    api,
                    projects.list_proposals(ListProposalsRequest {
                        state: wanted,
                        page_size: 100,
                        page_token: token.clone(),
                    }),
                    "listing proposals"
                )?,
                proposals
            );
            let rows = proposals
                .iter()
                .map(|p| {
                    vec![
                        cell(&localized(&p.title), 40),
                        state(p),
                        time(&p.submitted_at),
                        p.id.clone(),
                    ]
                })
                .collect();
            Ok(Outcome::table(
                vec!["title", "state", "submitted", "id"],
                rows,
                json!(proposals.iter().map(proposal_json).collect::<Vec<_>>()),
            ))
        }
        ProposalsCommand::Approve { id, reason } => {
            review(api, id, ReviewDecision::Approve, reason).await
        }
        ProposalsCommand::Reject { id, reason } => {
            review(api, id, ReviewDecision::Reject, reason).await
        }
        ProposalsCommand::RequestChanges { id, reason } => {
            review(api, id, ReviewDecision::RequestChanges, reason).await
        }
    }
}
