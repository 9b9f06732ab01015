//! Who is told what: each event becomes notices for its recipients. The
//! recipients come from notifications' own projections, never from a call
//! to another service. Nobody is told about their own act, and nobody is
//! told twice about one event.

use std::collections::{HashMap, HashSet};

use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::kind::Kind;
use crate::mail::content::Content;
use crate::projections;
use crate::store::entities::{follows, project_team};

/// Whom a notice goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A person notifications knows, addressed by their preferences.
    Person(String),
    /// An address given by the event itself (a confirmation code may go to
    /// an address not yet confirmed).
    Address {
        user_id: String,
        email: String,
        locale: String,
    },
}

impl Recipient {
    pub fn user_id(&self) -> &str {
        match self {
            Self::Person(id) | Self::Address { user_id: id, .. } => id,
        }
    }
}

/// One thing to tell one person.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: Kind,
    pub recipient: Recipient,
    pub content: Content,
    /// Texts the content takes in the recipient's locale (locale to
    /// text): a proposal's title as the input, a phase's or milestone's
    /// title as the status, a feedback's body as the excerpt.
    pub localized_input: Vec<(String, String)>,
    pub localized_status: Vec<(String, String)>,
    pub localized_excerpt: Vec<(String, String)>,
    pub project_id: Option<Uuid>,
    pub input_id: Option<Uuid>,
}

impl Notice {
    fn to(kind: Kind, user: &str) -> Self {
        Self {
            kind,
            recipient: Recipient::Person(user.to_owned()),
            content: Content::default(),
            localized_input: Vec::new(),
            localized_status: Vec::new(),
            localized_excerpt: Vec::new(),
            project_id: None,
            input_id: None,
        }
    }
}

fn uuid(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// The people following `target` (an input or a project).
async fn followers<C: ConnectionTrait>(
    db: &C,
    target_type: &str,
    target: Option<Uuid>,
) -> Result<Vec<String>, DbErr> {
    let Some(target) = target else {
        return Ok(Vec::new());
    };
    Ok(follows::Entity::find()
        .filter(follows::Column::TargetType.eq(target_type))
        .filter(follows::Column::TargetId.eq(target))
        .all(db)
        .await?
        .into_iter()
        .map(|f| f.user_id)
        .collect())
}

/// The project's team; only its managers when `managers_only`.
async fn team<C: ConnectionTrait>(
    db: &C,
    project: Option<Uuid>,
    managers_only: bool,
) -> Result<Vec<String>, DbErr> {
    let Some(project) = project else {
        return Ok(Vec::new());
    };
    let mut query =
        project_team::Entity::find().filter(project_team::Column::ProjectId.eq(project));
    if managers_only {
        query = query.filter(project_team::Column::Role.eq("manager"));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

/// Platform admins flagged project reviewers; all admins when none is.
async fn reviewers<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    let admins: Vec<String> = projections::holding(db, "platform_admin")
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    let flagged: Vec<String> = projections::holding(db, "project_reviewer")
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .filter(|id| admins.contains(id))
        .collect();
    Ok(if flagged.is_empty() { admins } else { flagged })
}

/// Adds a notice per user, skipping `except` and anyone told already.
fn tell(out: &mut Vec<Notice>, users: &[String], except: &[&str], make: impl Fn(&str) -> Notice) {
    for user in users {
        if user.is_empty()
            || except.contains(&user.as_str())
            || out.iter().any(|n| n.recipient.user_id() == user)
        {
            continue;
        }
        out.push(make(user));
    }
}

fn phase_title(phase: Option<&projects::Phase>) -> Vec<(String, String)> {
    phase
        .and_then(|p| p.title.as_ref())
        .map(|t| t.text.clone().into_iter().collect())
        .unwrap_or_default()
}

/// The managers of each of `projects` (ids that do not parse have none), in
/// one query.
pub async fn managers_of<C: ConnectionTrait>(
    db: &C,
    projects: impl IntoIterator<Item = &str>,
) -> Result<HashMap<Uuid, Vec<String>>, DbErr> {
    let projects: HashSet<Uuid> = projects.into_iter().filter_map(uuid).collect();
    let mut managers: HashMap<Uuid, Vec<String>> = HashMap::new();
    if projects.is_empty() {
        return Ok(managers);
    }
    for member in project_team::Entity::find()
        .filter(project_team::Column::ProjectId.is_in(projects))
        .filter(project_team::Column::Role.eq("manager"))
        .all(db)
        .await?
    {
        managers
            .entry(member.project_id)
            .or_default()
            .push(member.user_id);
    }
    Ok(managers)
}

/// The notices an input created causes, given its project's managers.
pub fn input_created(e: &events::InputCreated, managers: &[String]) -> Vec<Notice> {
    let mut out = Vec::new();
    // Input waiting for screening is a task; any other is news.
    let kind = if e.status == "prescreening" {
        Kind::InputToScreen
    } else {
        Kind::InputPosted
    };
    // A manager posting in their own project knows already; an anonymous
    // author is never named, so nothing else is said.
    tell(&mut out, managers, &[&e.author_id], |u| Notice {
        content: Content {
            input: e.title.clone(),
            ..Content::default()
        },
        project_id: uuid(&e.project_id),
        input_id: uuid(&e.input_id),
        ..Notice::to(kind, u)
    });
    out
}

/// The notices `event` causes; empty for events nobody is told about.
pub async fn route<C: ConnectionTrait>(
    db: &C,
    event: &events::Envelope,
) -> Result<Vec<Notice>, RouteError> {
    let mut out = Vec::new();
    match event.r#type.as_str() {
        "identity.user.confirmation_requested.v1" => {
            let e: events::ConfirmationRequested = decode(event)?;
            out.push(code_notice(
                Kind::ConfirmationCode,
                &e.user_id,
                &e.email,
                &e.locale,
                &e.code,
            ));
        }
        "identity.user.password_reset_requested.v1" => {
            let e: events::PasswordResetRequested = decode(event)?;
            let kind = if e.setup {
                Kind::PasswordSetup
            } else {
                Kind::ResetCode
            };
            out.push(code_notice(kind, &e.user_id, &e.email, &e.locale, &e.code));
        }
        "contributions.feedback.published.v1" => {
            let e: events::FeedbackPublished = decode(event)?;
            // An edit corrects what was told; it is not news again.
            if e.edited {
                return Ok(out);
            }
            let input = uuid(&e.input_id);
            let notice = |kind: Kind, user: &str| Notice {
                content: Content {
                    input: e.input_title.clone(),
                    status: e.status.clone(),
                    ..Content::default()
                },
                localized_excerpt: e.body.clone().into_iter().collect(),
                project_id: uuid(&e.project_id),
                input_id: input,
                ..Notice::to(kind, user)
            };
            tell(
                &mut out,
                std::slice::from_ref(&e.input_author_id),
                &[&e.author_id],
                |u| notice(Kind::FeedbackOnYourInput, u),
            );
            let following = followers(db, "input", input).await?;
            tell(&mut out, &following, &[&e.author_id], |u| {
                notice(Kind::FeedbackOnFollowedInput, u)
            });
        }
        "contributions.input.status_changed.v1"
        | "contributions.input.threshold_reached.v1"
        | "contributions.proposal.expired.v1" => {
            let e: events::InputStatusChanged = decode(event)?;
            // Told with the feedback it came with.
            if e.with_feedback {
                return Ok(out);
            }
            let input = uuid(&e.input_id);
            let notice = |kind: Kind, user: &str| Notice {
                content: Content {
                    input: e.title.clone(),
                    status: e.to_status.clone(),
                    ..Content::default()
                },
                project_id: uuid(&e.project_id),
                input_id: input,
                ..Notice::to(kind, user)
            };
            tell(
                &mut out,
                std::slice::from_ref(&e.author_id),
                &[&e.actor_id],
                |u| notice(Kind::StatusOfYourInput, u),
            );
            let following = followers(db, "input", input).await?;
            tell(&mut out, &following, &[&e.actor_id], |u| {
                notice(Kind::StatusOfFollowedInput, u)
            });
        }
        "contributions.comment.posted.v1" => {
            let e: events::CommentPosted = decode(event)?;
            // Internal comments are the staff's working notes.
            if e.internal {
                return Ok(out);
            }
            let notice = |kind: Kind, user: &str| Notice {
                content: Content {
                    input: e.input_title.clone(),
                    excerpt: e.excerpt.clone(),
                    ..Content::default()
                },
                project_id: uuid(&e.project_id),
                input_id: uuid(&e.input_id),
                ..Notice::to(kind, user)
            };
            // A reply tells the comment's author first: that is the more
            // specific news when both are the same person.
            tell(
                &mut out,
                std::slice::from_ref(&e.parent_author_id),
                &[&e.author_id],
                |u| notice(Kind::ReplyToYourComment, u),
            );
            tell(
                &mut out,
                std::slice::from_ref(&e.input_author_id),
                &[&e.author_id],
                |u| notice(Kind::CommentOnYourInput, u),
            );
        }
        "contributions.report.filed.v1" => {
            let e: events::ReportFiled = decode(event)?;
            // Moderators hear of a target once when first reported, and
            // again when reports hide it; not at every report.
            if e.open_reports != 1 && !e.auto_hidden {
                return Ok(out);
            }
            let project = uuid(&e.project_id);
            let managers = team(db, project, true).await?;
            tell(&mut out, &managers, &[], |u| Notice {
                content: Content {
                    status: e.reason.clone(),
                    ..Content::default()
                },
                project_id: project,
                input_id: if e.target_type == "input" {
                    uuid(&e.target_id)
                } else {
                    None
                },
                ..Notice::to(Kind::InputReported, u)
            });
        }
        "contributions.input.created.v1" => {
            let e: events::InputCreated = decode(event)?;
            let managers = team(db, uuid(&e.project_id), true).await?;
            out.extend(input_created(&e, &managers));
        }
        "contributions.input.overdue.v1" => {
            let e: events::InputOverdue = decode(event)?;
            let project = uuid(&e.project_id);
            let managers = team(db, project, true).await?;
            tell(&mut out, &managers, &[], |u| Notice {
                content: Content {
                    input: e.title.clone(),
                    ..Content::default()
                },
                project_id: project,
                input_id: uuid(&e.input_id),
                ..Notice::to(Kind::InputOverdue, u)
            });
        }
        "projects.project.published.v1" => {
            let e: events::ProjectChanged = decode(event)?;
            let project = e.project.unwrap_or_default();
            let id = uuid(&project.id);
            let following = followers(db, "project", id).await?;
            tell(&mut out, &following, &[], |u| Notice {
                project_id: id,
                ..Notice::to(Kind::ProjectPublished, u)
            });
        }
        "projects.phase.started.v1" | "projects.phase.ending_soon.v1" => {
            let e: events::PhaseTimeReached = decode(event)?;
            let id = uuid(&e.project_id);
            let kind = if event.r#type == "projects.phase.started.v1" {
                Kind::PhaseStarted
            } else {
                Kind::PhaseEndingSoon
            };
            let title = phase_title(e.phase.as_ref());
            if kind == Kind::PhaseEndingSoon {
                let staff = team(db, id, false).await?;
                tell(&mut out, &staff, &[], |u| Notice {
                    localized_status: title.clone(),
                    project_id: id,
                    ..Notice::to(Kind::DeadlineApproaching, u)
                });
            }
            let following = followers(db, "project", id).await?;
            tell(&mut out, &following, &[], |u| Notice {
                localized_status: title.clone(),
                project_id: id,
                ..Notice::to(kind, u)
            });
        }
        "projects.milestone.approaching.v1" => {
            let e: events::MilestoneApproaching = decode(event)?;
            let id = uuid(&e.project_id);
            let title: Vec<(String, String)> = e
                .milestone
                .and_then(|m| m.title)
                .map(|t| t.text.into_iter().collect())
                .unwrap_or_default();
            let staff = team(db, id, false).await?;
            tell(&mut out, &staff, &[], |u| Notice {
                localized_status: title.clone(),
                project_id: id,
                ..Notice::to(Kind::DeadlineApproaching, u)
            });
        }
        "projects.update.posted.v1" => {
            let e: events::UpdatePosted = decode(event)?;
            let update = e.update.unwrap_or_default();
            let id = uuid(&update.project_id);
            let title: Vec<(String, String)> = update
                .title
                .map(|t| t.text.into_iter().collect())
                .unwrap_or_default();
            let following = followers(db, "project", id).await?;
            tell(&mut out, &following, &[&update.author_id], |u| Notice {
                localized_excerpt: title.clone(),
                project_id: id,
                ..Notice::to(Kind::UpdatePosted, u)
            });
        }
        "projects.proposal.submitted.v1" => {
            let e: events::ProposalSubmitted = decode(event)?;
            let proposal = e.proposal.unwrap_or_default();
            let title: Vec<(String, String)> = proposal
                .title
                .map(|t| t.text.into_iter().collect())
                .unwrap_or_default();
            let review = reviewers(db).await?;
            tell(&mut out, &review, &[&proposal.proposer_id], |u| Notice {
                localized_input: title.clone(),
                ..Notice::to(Kind::ProposalToReview, u)
            });
        }
        "projects.proposal.decided.v1" => {
            let e: events::ProposalDecided = decode(event)?;
            let proposal = e.proposal.unwrap_or_default();
            let title: Vec<(String, String)> = proposal
                .title
                .map(|t| t.text.into_iter().collect())
                .unwrap_or_default();
            let decision = projects::ProposalState::try_from(proposal.state)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("PROPOSAL_STATE_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            tell(
                &mut out,
                std::slice::from_ref(&proposal.proposer_id),
                &[&proposal.decided_by],
                |u| Notice {
                    localized_input: title.clone(),
                    content: Content {
                        status: decision.clone(),
                        excerpt: proposal.decision_reason.clone(),
                        ..Content::default()
                    },
                    project_id: uuid(&proposal.project_id),
                    ..Notice::to(Kind::ProposalDecided, u)
                },
            );
        }
        _ => {}
    }
    Ok(out)
}

fn code_notice(kind: Kind, user: &str, email: &str, locale: &str, code: &str) -> Notice {
    Notice {
        recipient: Recipient::Address {
            user_id: user.to_owned(),
            email: email.to_owned(),
            locale: locale.to_owned(),
        },
        content: Content {
            code: code.to_owned(),
            ..Content::default()
        },
        ..Notice::to(kind, user)
    }
}

/// Why an event could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("{0}")]
    Malformed(String),
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

fn decode<M: prost::Name + Default>(event: &events::Envelope) -> Result<M, RouteError> {
    inspraak_bus::decode_payload(event).map_err(RouteError::Malformed)
}
