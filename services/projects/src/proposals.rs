//! Project proposals: a department's staff propose, the core team decides.

use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as proto;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::Caller;
use crate::domain::phase::{Method, Window, check_timeline};
use crate::domain::{Text, parse_time, parse_uuid, timestamp};
use crate::error::{Error, Result};
use crate::projects::{DRAFT, to_proto as project_proto, write_team};
use crate::settings_store;
use crate::state::State;
use crate::store::entities::{phases, projects, proposals};

const SUBMITTED: &str = "submitted";
const CHANGES_REQUESTED: &str = "changes_requested";
const APPROVED: &str = "approved";
const REJECTED: &str = "rejected";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IntendedPhase {
    title: Text,
    method: Method,
    starts_at: chrono::DateTime<chrono::Utc>,
    ends_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn etag(proposal: &proposals::Model) -> String {
    format!("proposal-v{}", proposal.version)
}

fn state_proto(state: &str) -> i32 {
    (match state {
        SUBMITTED => proto::ProposalState::Submitted,
        CHANGES_REQUESTED => proto::ProposalState::ChangesRequested,
        APPROVED => proto::ProposalState::Approved,
        REJECTED => proto::ProposalState::Rejected,
        _ => proto::ProposalState::Unspecified,
    }) as i32
}

fn to_proto(proposal: &proposals::Model) -> proto::Proposal {
    let phases: Vec<IntendedPhase> =
        serde_json::from_value(proposal.intended_phases.clone()).unwrap_or_default();
    proto::Proposal {
        id: proposal.id.to_string(),
        title: Some(Text::from_json(&proposal.title).to_proto()),
        goal: Some(Text::from_json(&proposal.goal).to_proto()),
        department_id: proposal.department_id.clone(),
        intended_phases: phases
            .iter()
            .map(|p| proto::IntendedPhase {
                title: Some(p.title.to_proto()),
                method: Some(p.method.to_proto()),
                starts_at: Some(timestamp(p.starts_at)),
                ends_at: p.ends_at.map(timestamp),
            })
            .collect(),
        communication_plan: Some(Text::from_json(&proposal.communication_plan).to_proto()),
        proposer_id: proposal.proposer_id.clone(),
        state: state_proto(&proposal.state),
        decision_reason: proposal.decision_reason.clone().unwrap_or_default(),
        decided_by: proposal.decided_by.clone().unwrap_or_default(),
        project_id: proposal
            .project_id
            .map(|p| p.to_string())
            .unwrap_or_default(),
        submitted_at: Some(timestamp(proposal.submitted_at)),
        decided_at: proposal.decided_at.map(timestamp),
        etag: etag(proposal),
    }
}

struct Content {
    title: Text,
    goal: Text,
    department_id: String,
    phases: Vec<IntendedPhase>,
    plan: Text,
}

fn parse_content(
    caller: &Caller<'_>,
    locales: &[String],
    title: Option<&proto::LocalizedText>,
    goal: Option<&proto::LocalizedText>,
    department_id: &str,
    intended: &[proto::IntendedPhase],
    plan: Option<&proto::LocalizedText>,
) -> Result<Content> {
    let principal = caller.principal()?;
    let department_id = department_id.trim();
    if !caller.is_admin() && principal.departments.is_empty() {
        return Err(Error::PermissionDenied(
            "projects are proposed by a department's staff".to_owned(),
        ));
    }
    let mut v = Vec::new();
    if department_id.is_empty() {
        v.push(inspraak_kit::grpc::FieldViolation::new(
            "department_id",
            "is required",
        ));
    } else if !caller.is_admin() && !principal.departments.contains(department_id) {
        return Err(Error::PermissionDenied(
            "you can only propose for a department you belong to".to_owned(),
        ));
    }
    let title = Text::parse("title", title, locales, 200, true, &mut v);
    let goal = Text::parse("goal", goal, locales, 20_000, true, &mut v);
    let plan = Text::parse("communication_plan", plan, locales, 20_000, false, &mut v);
    let mut phases = Vec::new();
    let mut windows = Vec::new();
    for (i, phase) in intended.iter().enumerate() {
        let field = format!("intended_phases[{i}]");
        let title = Text::parse(
            &format!("{field}.title"),
            phase.title.as_ref(),
            locales,
            200,
            true,
            &mut v,
        );
        let method = Method::parse(&format!("{field}.method"), phase.method.as_ref(), &mut v);
        let starts_at = parse_time(
            &format!("{field}.starts_at"),
            phase.starts_at.as_ref(),
            &mut v,
        );
        if phase.starts_at.is_none() {
            v.push(inspraak_kit::grpc::FieldViolation::new(
                format!("{field}.starts_at"),
                "is required",
            ));
        }
        let ends_at = parse_time(&format!("{field}.ends_at"), phase.ends_at.as_ref(), &mut v);
        if let (Some(starts_at), Some(method)) = (starts_at, method) {
            let window = Window { starts_at, ends_at };
            check_timeline(&field, &window, &windows, &mut v);
            windows.push(window);
            phases.push(IntendedPhase {
                title,
                method,
                starts_at,
                ends_at,
            });
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    Ok(Content {
        title,
        goal,
        department_id: department_id.to_owned(),
        phases,
        plan,
    })
}

pub async fn submit(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::SubmitProposalRequest,
) -> Result<proto::Proposal> {
    let locales = settings_store::current(&state.db).await?.settings.locales;
    let content = parse_content(
        caller,
        &locales,
        request.title.as_ref(),
        request.goal.as_ref(),
        &request.department_id,
        &request.intended_phases,
        request.communication_plan.as_ref(),
    )?;
    let request_id = Some(request.request_id.trim().to_owned()).filter(|r| !r.is_empty());
    let proposer = caller.principal()?.subject.clone();
    if let Some(earlier) = earlier_submission(&state.db, &proposer, request_id.as_deref()).await? {
        return Ok(to_proto(&earlier));
    }
    let proposal = proposals::Model {
        id: Uuid::now_v7(),
        title: content.title.to_json(),
        goal: content.goal.to_json(),
        department_id: content.department_id,
        intended_phases: serde_json::to_value(&content.phases)
            .map_err(|e| Error::Internal(e.to_string()))?,
        communication_plan: content.plan.to_json(),
        proposer_id: caller.principal()?.subject.clone(),
        state: SUBMITTED.to_owned(),
        decision_reason: None,
        decided_by: None,
        project_id: None,
        request_id,
        submitted_at: state.clock.now(),
        decided_at: None,
        version: 1,
    };
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let inserted = proposals::Entity::insert(proposal.clone().into_active_model())
        .exec_without_returning(&txn)
        .await;
    if let Err(error) = inserted {
        drop(txn);
        // A retry overlapping the first call: the first one's proposal.
        if matches!(
            error.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        ) && let Some(earlier) =
            earlier_submission(&state.db, &proposer, proposal.request_id.as_deref()).await?
        {
            return Ok(to_proto(&earlier));
        }
        return Err(error.into());
    }
    let view = to_proto(&proposal);
    state
        .publish(
            &txn,
            "projects.proposal.submitted.v1",
            "proposal",
            proposal.id,
            1,
            &events::ProposalSubmitted {
                proposal: Some(view.clone()),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

/// The proposal this proposer already submitted with this retry key.
async fn earlier_submission<C: ConnectionTrait>(
    db: &C,
    proposer: &str,
    request_id: Option<&str>,
) -> Result<Option<proposals::Model>> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    Ok(proposals::Entity::find()
        .filter(proposals::Column::ProposerId.eq(proposer))
        .filter(proposals::Column::RequestId.eq(request_id))
        .one(db)
        .await?)
}

async fn find<C: ConnectionTrait>(db: &C, raw_id: &str) -> Result<proposals::Model> {
    proposals::Entity::find_by_id(parse_uuid("id", raw_id)?)
        .one(db)
        .await?
        .ok_or(Error::NotFound("proposal"))
}

pub async fn revise(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ReviseProposalRequest,
) -> Result<proto::Proposal> {
    let locales = settings_store::current(&state.db).await?.settings.locales;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let proposal = find(&txn, &request.id).await?;
    if caller.subject() != Some(proposal.proposer_id.as_str()) {
        caller.principal()?;
        return Err(Error::PermissionDenied(
            "only the proposer revises a proposal".to_owned(),
        ));
    }
    if proposal.state != CHANGES_REQUESTED {
        return Err(Error::FailedPrecondition(
            "only a proposal sent back for changes can be revised".to_owned(),
        ));
    }
    if !request.etag.is_empty() && request.etag != etag(&proposal) {
        return Err(Error::Aborted(
            "the proposal changed since it was read; read it again".to_owned(),
        ));
    }
    let content = parse_content(
        caller,
        &locales,
        request.title.as_ref(),
        request.goal.as_ref(),
        &request.department_id,
        &request.intended_phases,
        request.communication_plan.as_ref(),
    )?;
    let version = proposal.version + 1;
    let mut active = proposal.into_active_model();
    active.title = Set(content.title.to_json());
    active.goal = Set(content.goal.to_json());
    active.department_id = Set(content.department_id);
    active.intended_phases =
        Set(serde_json::to_value(&content.phases).map_err(|e| Error::Internal(e.to_string()))?);
    active.communication_plan = Set(content.plan.to_json());
    active.state = Set(SUBMITTED.to_owned());
    active.version = Set(version);
    let updated = proposals::Entity::update(active).exec(&txn).await?;
    let view = to_proto(&updated);
    state
        .publish(
            &txn,
            "projects.proposal.submitted.v1",
            "proposal",
            updated.id,
            version,
            &events::ProposalSubmitted {
                proposal: Some(view.clone()),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(view)
}

pub async fn get(state: &State, caller: &Caller<'_>, id: &str) -> Result<proto::Proposal> {
    caller.principal()?;
    let proposal = find(&state.db, id).await?;
    if !caller.is_admin() && caller.subject() != Some(proposal.proposer_id.as_str()) {
        return Err(Error::PermissionDenied(
            "only the proposer and platform admins see a proposal".to_owned(),
        ));
    }
    Ok(to_proto(&proposal))
}

pub async fn list(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListProposalsRequest,
) -> Result<proto::ListProposalsResponse> {
    let principal = caller.principal()?;
    let page_size = match request.page_size {
        0 => 50,
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => Ord::min(u64::try_from(n).unwrap_or(200), 200),
    };
    let mut query = proposals::Entity::find().order_by_asc(proposals::Column::Id);
    if !caller.is_admin() {
        query = query.filter(proposals::Column::ProposerId.eq(principal.subject.clone()));
    }
    let state_filter = match proto::ProposalState::try_from(request.state) {
        Ok(proto::ProposalState::Unspecified) => None,
        Ok(proto::ProposalState::Submitted) => Some(SUBMITTED),
        Ok(proto::ProposalState::ChangesRequested) => Some(CHANGES_REQUESTED),
        Ok(proto::ProposalState::Approved) => Some(APPROVED),
        Ok(proto::ProposalState::Rejected) => Some(REJECTED),
        Err(_) => return Err(Error::invalid("state", "is not a proposal state")),
    };
    if let Some(wanted) = state_filter {
        query = query.filter(proposals::Column::State.eq(wanted));
    }
    if !request.page_token.is_empty() {
        query =
            query.filter(proposals::Column::Id.gt(parse_uuid("page_token", &request.page_token)?));
    }
    let rows = query.limit(page_size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > page_size;
    let page: Vec<&proposals::Model> = rows.iter().take(page_size as usize).collect();
    Ok(proto::ListProposalsResponse {
        next_page_token: if more {
            page.last().map(|p| p.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        proposals: page.into_iter().map(to_proto).collect(),
    })
}

pub async fn review(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ReviewProposalRequest,
) -> Result<proto::ReviewProposalResponse> {
    caller.require_admin()?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 5000 {
        return Err(Error::invalid(
            "reason",
            "a decision needs a reason (1 to 5000 characters)",
        ));
    }
    let decision = match proto::ReviewDecision::try_from(request.decision) {
        Ok(proto::ReviewDecision::Approve) => APPROVED,
        Ok(proto::ReviewDecision::RequestChanges) => CHANGES_REQUESTED,
        Ok(proto::ReviewDecision::Reject) => REJECTED,
        _ => {
            return Err(Error::invalid(
                "decision",
                "must be APPROVE, REQUEST_CHANGES or REJECT",
            ));
        }
    };
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let proposal = find(&txn, &request.id).await?;
    if proposal.state != SUBMITTED {
        return Err(Error::FailedPrecondition(format!(
            "the proposal is {}, not waiting for a decision",
            proposal.state
        )));
    }
    if !request.etag.is_empty() && request.etag != etag(&proposal) {
        return Err(Error::Aborted(
            "the proposal changed since it was read; read it again".to_owned(),
        ));
    }
    let now = state.clock.now();
    let mut project_view = None;
    let mut project_id = None;
    if decision == APPROVED {
        let project = projects::Model {
            id: Uuid::now_v7(),
            title: proposal.title.clone(),
            description: proposal.goal.clone(),
            state: DRAFT.to_owned(),
            visibility: "public".to_owned(),
            folder_id: None,
            department_id: proposal.department_id.clone(),
            topics: serde_json::json!([]),
            proposal_id: Some(proposal.id),
            published_at: None,
            has_input: false,
            created_at: now,
            updated_at: now,
            version: 1,
            prescreening: false,
        };
        projects::Entity::insert(project.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        let intended: Vec<IntendedPhase> =
            serde_json::from_value(proposal.intended_phases.clone()).unwrap_or_default();
        for phase in intended {
            phases::Entity::insert(phases::ActiveModel {
                id: Set(Uuid::now_v7()),
                project_id: Set(project.id),
                title: Set(phase.title.to_json()),
                description: Set(Text::default().to_json()),
                starts_at: Set(phase.starts_at),
                ends_at: Set(phase.ends_at),
                method: Set(serde_json::to_value(&phase.method)
                    .map_err(|e| Error::Internal(e.to_string()))?),
                permissions: Set(serde_json::to_value(crate::domain::phase::Permissions {
                    post: crate::domain::phase::Permission::Registered,
                    comment: crate::domain::phase::Permission::Registered,
                    react: crate::domain::phase::Permission::Registered,
                    vote: crate::domain::phase::Permission::ConfirmedEmail,
                })
                .map_err(|e| Error::Internal(e.to_string()))?),
                has_input: Set(false),
                created_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
        }
        write_team(
            &txn,
            project.id,
            std::slice::from_ref(&proposal.proposer_id),
            None,
        )
        .await?;
        let view = project_proto(&txn, &project, now).await?;
        state
            .publish(
                &txn,
                "projects.project.created.v1",
                "project",
                project.id,
                1,
                &events::ProjectChanged {
                    project: Some(view.clone()),
                },
            )
            .await?;
        project_id = Some(project.id);
        project_view = Some(view);
    }
    let version = proposal.version + 1;
    let mut active = proposal.into_active_model();
    active.state = Set(decision.to_owned());
    active.decision_reason = Set(Some(reason.to_owned()));
    active.decided_by = Set(Some(caller.principal()?.subject.clone()));
    active.decided_at = Set(Some(now));
    active.project_id = Set(project_id);
    active.version = Set(version);
    let updated = proposals::Entity::update(active).exec(&txn).await?;
    let view = to_proto(&updated);
    state
        .publish(
            &txn,
            "projects.proposal.decided.v1",
            "proposal",
            updated.id,
            version,
            &events::ProposalDecided {
                proposal: Some(view.clone()),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(proto::ReviewProposalResponse {
        proposal: Some(view),
        project: project_view,
    })
}
