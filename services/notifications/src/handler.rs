//! The one consumer of notifications: every event first updates the
//! projections it carries, then becomes notices, all in the event's
//! transaction (with the inbox's dedupe), so a redelivered event changes
//! nothing.

use inspraak_bus::{EventHandler, HandlerError, Joined, decode_payload};
use inspraak_proto::events::v1 as events;
use sea_orm::DatabaseTransaction;
use tracing::Instrument;

use crate::fanout::fan_out;
use crate::kind::Kind;
use crate::mail::content::Content;
use crate::projections;
use crate::routing::{self, Notice, Recipient, RouteError};
use crate::state::State;

pub const PURPOSE: &str = "notify";

pub const BINDINGS: &[&str] = &[
    "identity.user.#",
    "identity.role.#",
    "projects.#",
    "contributions.feedback.#",
    "contributions.input.#",
    "contributions.proposal.#",
    "contributions.comment.posted.v1",
    "contributions.reactions.changed.v1",
    "contributions.report.#",
    "contributions.follow.#",
];

pub struct Notifier {
    pub state: State,
}

fn reject(error: String) -> HandlerError {
    HandlerError::Reject(error)
}

impl From<RouteError> for HandlerError {
    fn from(error: RouteError) -> Self {
        match error {
            RouteError::Malformed(why) => Self::Reject(why),
            RouteError::Database(e) => Self::Retry(format!("database: {e}")),
        }
    }
}

fn rights(user: &str, role: &str, project: Option<uuid::Uuid>) -> Notice {
    Notice {
        kind: Kind::RightsReceived,
        recipient: Recipient::Person(user.to_owned()),
        content: Content {
            status: role.to_owned(),
            ..Content::default()
        },
        localized_input: Vec::new(),
        localized_status: Vec::new(),
        localized_excerpt: Vec::new(),
        project_id: project,
        input_id: None,
    }
}

impl EventHandler for Notifier {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &events::Envelope,
    ) -> Result<(), HandlerError> {
        let version = i64::try_from(event.aggregate_version).unwrap_or(i64::MAX);
        // Projections first: a notice about a person registered by this very
        // event must find them.
        let mut extra = Vec::new();
        match event.r#type.as_str() {
            "identity.user.registered.v1" => {
                let e: events::UserRegistered = decode_payload(event).map_err(reject)?;
                projections::registered(txn, &e).await?;
            }
            "identity.user.updated.v1" => {
                let e: events::UserUpdated = decode_payload(event).map_err(reject)?;
                projections::updated(txn, &e).await?;
            }
            "identity.user.deleted.v1" => {
                let e: events::UserDeleted = decode_payload(event).map_err(reject)?;
                projections::erase(txn, &e.user_id).await?;
                return Ok(());
            }
            "identity.role.granted.v1" => {
                let e: events::RoleGranted = decode_payload(event).map_err(reject)?;
                // Registration and a role granted at once (the first admin)
                // travel together and may be handled in either order; the
                // role waits for the person rather than being lost.
                if projections::not_yet_registered(txn, &e.user_id).await? {
                    return Err(HandlerError::Retry(format!(
                        "{} has a role but is not registered here yet",
                        e.user_id
                    )));
                }
                if projections::role(txn, &e.user_id, &e.role, true).await? {
                    extra.push(rights(&e.user_id, &e.role, None));
                }
                if e.project_reviewer {
                    projections::role(txn, &e.user_id, "project_reviewer", true).await?;
                }
            }
            "identity.role.revoked.v1" => {
                let e: events::RoleRevoked = decode_payload(event).map_err(reject)?;
                projections::role(txn, &e.user_id, &e.role, false).await?;
            }
            "projects.settings.changed.v1" => {
                let e: events::SettingsChanged = decode_payload(event).map_err(reject)?;
                let settings = e.settings.unwrap_or_default();
                let version = i64::try_from(settings.version).unwrap_or(version);
                projections::settings(txn, &settings, version).await?;
                crate::report::schedule(txn, &settings.charter.unwrap_or_default(), version)
                    .await?;
            }
            "contributions.input.overdue.v1" => {
                let e: events::InputOverdue = decode_payload(event).map_err(reject)?;
                if let (Ok(input), Ok(project)) = (
                    uuid::Uuid::parse_str(&e.input_id),
                    uuid::Uuid::parse_str(&e.project_id),
                ) {
                    crate::escalation::overdue(
                        txn,
                        input,
                        project,
                        &e.title,
                        self.state.clock.now(),
                    )
                    .await?;
                }
            }
            "contributions.feedback.published.v1" => {
                let e: events::FeedbackPublished = decode_payload(event).map_err(reject)?;
                if let Ok(input) = uuid::Uuid::parse_str(&e.input_id) {
                    crate::escalation::answered(txn, input, self.state.clock.now()).await?;
                }
            }
            "contributions.follow.changed.v1" => {
                let e: events::FollowChanged = decode_payload(event).map_err(reject)?;
                projections::follow(txn, &e).await?;
            }
            kind if carries_project(kind) => {
                let e: events::ProjectChanged = decode_payload(event).map_err(reject)?;
                if let Some(project) = &e.project {
                    let joined = projections::project(txn, project, version).await?;
                    let id = uuid::Uuid::parse_str(&project.id).ok();
                    for (user, role) in joined {
                        let role = if role == "manager" {
                            "project_manager"
                        } else {
                            "communication_contact"
                        };
                        extra.push(rights(&user, role, id));
                    }
                }
            }
            _ => {}
        }
        if event.r#type.starts_with("contributions.") {
            crate::report::record(txn, event, self.state.clock.now()).await?;
        }
        let mut notices = routing::route(txn, event).await?;
        notices.extend(extra);
        self.deliver(txn, &event.event_id, notices).await
    }

    /// Inputs created, the bulk of a busy consultation's events, are applied
    /// together: their report rows in two statements and their projects'
    /// managers in one query for the lot.
    fn joins(&self, event: &events::Envelope) -> bool {
        event.r#type == INPUT_CREATED
    }

    async fn handle_many(
        &self,
        txn: &DatabaseTransaction,
        joined: &[Joined<'_>],
    ) -> Result<(), HandlerError> {
        let mut created = Vec::with_capacity(joined.len());
        for one in joined {
            debug_assert_eq!(one.event.r#type, INPUT_CREATED);
            let e: events::InputCreated = decode_payload(one.event).map_err(reject)?;
            created.push(e);
        }
        let now = self.state.clock.now();
        let recorded: Vec<(&str, &events::InputCreated)> = joined
            .iter()
            .zip(&created)
            .map(|(one, e)| (one.event.event_id.as_str(), e))
            .collect();
        crate::report::record_created(txn, &recorded, now).await?;
        let managers =
            routing::managers_of(txn, created.iter().map(|e| e.project_id.as_str())).await?;
        for (one, e) in joined.iter().zip(&created) {
            let project_managers = uuid::Uuid::parse_str(&e.project_id)
                .ok()
                .and_then(|project| managers.get(&project))
                .map_or(&[][..], Vec::as_slice);
            let notices = routing::input_created(e, project_managers);
            self.deliver(txn, &one.event.event_id, notices)
                .instrument(one.span.clone())
                .await?;
        }
        Ok(())
    }
}

const INPUT_CREATED: &str = "contributions.input.created.v1";

impl Notifier {
    /// Writes the notices `event_id` caused and wakes whoever waits for them.
    async fn deliver(
        &self,
        txn: &DatabaseTransaction,
        event_id: &str,
        notices: Vec<Notice>,
    ) -> Result<(), HandlerError> {
        if notices.is_empty() {
            return Ok(());
        }
        let written = fan_out(
            txn,
            event_id,
            notices,
            self.state.clock.now(),
            self.state.settings.digest_hour,
        )
        .await?;
        // The wake-ups run ahead of the commit; the sender and the streams
        // look again on their next poll if they find nothing yet.
        if written.mail_due {
            self.state.signals.mail.notify_one();
        }
        crate::metrics::sent("in_app", written.inboxes.len() as u64);
        for user in written.inboxes {
            let _ = self.state.signals.inbox.send(user);
        }
        Ok(())
    }
}

fn carries_project(event_type: &str) -> bool {
    matches!(
        event_type,
        "projects.project.created.v1"
            | "projects.project.changed.v1"
            | "projects.project.published.v1"
            | "projects.project.unpublished.v1"
            | "projects.project.archived.v1"
            | "projects.team.changed.v1"
            | "projects.phase.created.v1"
            | "projects.phase.changed.v1"
            | "projects.phase.deleted.v1"
            | "projects.milestone.set.v1"
    )
}
