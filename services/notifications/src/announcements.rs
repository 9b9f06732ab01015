//! Announcements: a communication officer or an admin tells the
//! participants of a project, or every resident, through the same inboxes
//! and preferences as everything else. The recipients are gathered from
//! notifications' own projections and written in batches; each batch is
//! keyed by the announcement, so a retry tells nobody twice.

use std::collections::{BTreeSet, HashMap};

use inspraak_kit::auth::Principal;
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::notifications::v1 as proto;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::fanout::fan_out;
use crate::kind::Kind;
use crate::mail::content::Content;
use crate::routing::{Notice, Recipient};
use crate::state::State;
use crate::store::entities::{follows, people, report_activity};

/// Recipients written per transaction.
const BATCH: usize = 500;

fn check_texts(
    field: &str,
    texts: &HashMap<String, String>,
    length: std::ops::RangeInclusive<usize>,
    v: &mut Vec<FieldViolation>,
) {
    if texts.is_empty() {
        v.push(FieldViolation::new(field, "give at least one locale"));
    }
    for (locale, text) in texts {
        let n = text.trim().chars().count();
        if locale.len() < 2 || locale.len() > 10 {
            v.push(FieldViolation::new(
                format!("{field}[{locale}]"),
                "is not a locale",
            ));
        } else if !length.contains(&n) {
            v.push(FieldViolation::new(
                format!("{field}[{locale}]"),
                format!("must be {} to {} characters", length.start(), length.end()),
            ));
        }
    }
}

pub async fn announce(
    state: &State,
    principal: &Principal,
    request: &proto::AnnounceRequest,
) -> Result<proto::AnnounceResponse> {
    let allowed = principal.is_admin()
        || principal
            .roles
            .iter()
            .any(|r| r.as_str() == "communication_officer");
    if !allowed {
        return Err(Error::PermissionDenied(
            "announcements are for communication officers and platform admins".to_owned(),
        ));
    }
    let mut v = Vec::new();
    check_texts("title", &request.title, 3..=200, &mut v);
    check_texts("body", &request.body, 1..=5000, &mut v);
    let project = if request.project_id.trim().is_empty() {
        None
    } else {
        match Uuid::parse_str(request.project_id.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                v.push(FieldViolation::new("project_id", "is not an id"));
                None
            }
        }
    };
    if request.request_id.chars().count() > 100 {
        v.push(FieldViolation::new("request_id", "at most 100 characters"));
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    // The same request from the same sender is the same announcement.
    let id = if request.request_id.trim().is_empty() {
        Uuid::now_v7()
    } else {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!(
                "announcement:{}:{}",
                principal.subject,
                request.request_id.trim()
            )
            .as_bytes(),
        )
    };
    let recipients: Vec<String> = match project {
        Some(project) => {
            let mut who: BTreeSet<String> = report_activity::Entity::find()
                .filter(report_activity::Column::ProjectId.eq(project))
                .all(&state.db)
                .await?
                .into_iter()
                .map(|a| a.user_id)
                .collect();
            who.extend(
                follows::Entity::find()
                    .filter(follows::Column::ProjectId.eq(project))
                    .all(&state.db)
                    .await?
                    .into_iter()
                    .map(|f| f.user_id),
            );
            who.into_iter().collect()
        }
        None => people::Entity::find()
            .all(&state.db)
            .await?
            .into_iter()
            .map(|p| p.user_id)
            .collect(),
    };
    let title: Vec<(String, String)> = request
        .title
        .iter()
        .map(|(l, t)| (l.clone(), t.trim().to_owned()))
        .collect();
    let body: Vec<(String, String)> = request
        .body
        .iter()
        .map(|(l, t)| (l.clone(), t.trim().to_owned()))
        .collect();
    let event_id = format!("announcement:{id}");
    for batch in recipients.chunks(BATCH) {
        let notices = batch
            .iter()
            .filter(|user| **user != principal.subject)
            .map(|user| Notice {
                kind: Kind::Announcement,
                recipient: Recipient::Person(user.clone()),
                content: Content::default(),
                localized_input: title.clone(),
                localized_status: Vec::new(),
                localized_excerpt: body.clone(),
                project_id: project,
                input_id: None,
            })
            .collect();
        let txn = inspraak_kit::db::begin_write(&state.db).await?;
        let written = fan_out(
            &txn,
            &event_id,
            notices,
            state.clock.now(),
            state.settings.digest_hour,
        )
        .await?;
        txn.commit().await?;
        if written.mail_due {
            state.signals.mail.notify_one();
        }
        for user in written.inboxes {
            let _ = state.signals.inbox.send(user);
        }
    }
    Ok(proto::AnnounceResponse {
        announcement_id: id.to_string(),
        recipients: i64::try_from(recipients.len()).unwrap_or(i64::MAX),
    })
}
