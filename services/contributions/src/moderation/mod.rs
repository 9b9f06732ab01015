//! Moderation: reports on inputs and comments, automatic hiding after the
//! charter's number of open reports, and the moderators' queue and acts.
//! Moderators are the project's managers and platform admins.

pub mod targets;

use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm::{ExprTrait, sea_query::Condition};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, InputCount};
use crate::error::{Error, Result};
use crate::listing::page_size;
use crate::projection;
use crate::state::State;
use crate::store::moderation::{moderation_items, reports};
use crate::wire::{parse_uuid, timestamp};
use targets::{Subject, Target};

const OPEN: &str = "open";
const UPHELD: &str = "upheld";
const DISMISSED: &str = "dismissed";

fn reason_name(value: i32) -> Option<&'static str> {
    match proto::ReportReason::try_from(value) {
        Ok(proto::ReportReason::Spam) => Some("spam"),
        Ok(proto::ReportReason::Inappropriate) => Some("inappropriate"),
        Ok(proto::ReportReason::Other) => Some("other"),
        _ => None,
    }
}

fn reason_wire(name: &str) -> i32 {
    (match name {
        "spam" => proto::ReportReason::Spam,
        "inappropriate" => proto::ReportReason::Inappropriate,
        "other" => proto::ReportReason::Other,
        _ => proto::ReportReason::Unspecified,
    }) as i32
}

/// Refuses unless the caller moderates `project`.
async fn ensure_moderates<C: ConnectionTrait>(
    db: &C,
    caller: &Caller<'_>,
    project: Uuid,
) -> Result<()> {
    caller.principal()?;
    if caller.is_manager(db, project).await? {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "only the project's managers and platform admins moderate".to_owned(),
        ))
    }
}

async fn item<C: ConnectionTrait>(
    db: &C,
    target: Target,
) -> Result<Option<moderation_items::Model>> {
    Ok(
        moderation_items::Entity::find_by_id((target.kind().to_owned(), target.id()))
            .one(db)
            .await?,
    )
}

fn item_proto(subject: &Subject, row: Option<&moderation_items::Model>) -> proto::ModerationItem {
    proto::ModerationItem {
        target: Some(subject.target.wire()),
        project_id: subject.project_id.to_string(),
        excerpt: subject.excerpt.clone(),
        author_id: subject.author_id.clone(),
        open_reports: row.map_or(0, |r| r.open_reports),
        hidden: subject.hidden_at.is_some(),
        hidden_automatically: subject.hidden_at.is_some()
            && row.is_some_and(|r| r.hidden_automatically),
        first_reported_at: row.and_then(|r| r.queued_at).map(timestamp),
    }
}

/// Adds `delta` open reports to the target's count shown with it.
async fn count_on_target(txn: &DatabaseTransaction, target: Target, delta: i64) -> Result<()> {
    match target {
        Target::Input(id) => {
            counters::add_to_input(txn, id, InputCount::OpenReports, delta).await?;
        }
        Target::Comment(id) => {
            use crate::store::discussion::comments;
            comments::Entity::update_many()
                .col_expr(
                    comments::Column::OpenReports,
                    Expr::col(comments::Column::OpenReports).add(delta),
                )
                .filter(comments::Column::Id.eq(id))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

pub async fn report(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ReportRequest,
) -> Result<proto::ReportResponse> {
    let reporter = caller.principal()?.subject.clone();
    let target = Target::from_wire(request.target.as_ref())?;
    let mut v = Vec::new();
    let reason = reason_name(request.reason);
    if reason.is_none() {
        v.push(FieldViolation::new(
            "reason",
            "spam, inappropriate or other",
        ));
    }
    let text = request.text.trim();
    if text.chars().count() > 1000 {
        v.push(FieldViolation::new("text", "at most 1000 characters"));
    }
    if reason == Some("other") && text.is_empty() {
        v.push(FieldViolation::new("text", "say what is wrong"));
    }
    let (Some(reason), true) = (reason, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    caller.ensure_may_contribute(&txn, now).await?;
    let subject = targets::load(&txn, caller, target).await?;
    if subject.author_id == reporter {
        return Err(Error::FailedPrecondition(
            "you cannot report what you wrote yourself".to_owned(),
        ));
    }
    let row = reports::Model {
        id: Uuid::now_v7(),
        target_type: target.kind().to_owned(),
        target_id: target.id(),
        project_id: subject.project_id,
        reporter_id: reporter.clone(),
        reason: reason.to_owned(),
        text: text.to_owned(),
        created_at: now,
        resolution: OPEN.to_owned(),
        resolved_by: None,
        resolved_at: None,
        note: None,
    };
    let inserted = reports::Entity::insert(row.clone().into_active_model())
        .on_conflict(
            OnConflict::columns([
                reports::Column::TargetType,
                reports::Column::TargetId,
                reports::Column::ReporterId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        return Err(Error::AlreadyExists(
            "you have reported this already".to_owned(),
        ));
    }
    moderation_items::Entity::insert(moderation_items::ActiveModel {
        target_type: Set(target.kind().to_owned()),
        target_id: Set(target.id()),
        project_id: Set(subject.project_id),
        open_reports: Set(0),
        queued_at: Set(None),
        hidden_automatically: Set(false),
    })
    .on_conflict(
        OnConflict::columns([
            moderation_items::Column::TargetType,
            moderation_items::Column::TargetId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    // Relative: concurrent reports add up. The queue keeps the time of the
    // first open report.
    moderation_items::Entity::update_many()
        .col_expr(
            moderation_items::Column::OpenReports,
            Expr::col(moderation_items::Column::OpenReports).add(1),
        )
        .col_expr(
            moderation_items::Column::QueuedAt,
            Expr::col(moderation_items::Column::QueuedAt).if_null(now),
        )
        .filter(moderation_items::Column::TargetType.eq(target.kind()))
        .filter(moderation_items::Column::TargetId.eq(target.id()))
        .exec(&txn)
        .await?;
    count_on_target(&txn, target, 1).await?;
    let open = item(&txn, target).await?.map_or(1, |row| row.open_reports);
    let (_, threshold) = projection::charter(&txn).await?;
    let auto_hidden = subject.hidden_at.is_none() && threshold > 0 && open >= threshold;
    if auto_hidden {
        targets::set_hidden(state, &txn, target, true, "").await?;
        moderation_items::Entity::update_many()
            .col_expr(
                moderation_items::Column::HiddenAutomatically,
                Expr::value(true),
            )
            .filter(moderation_items::Column::TargetType.eq(target.kind()))
            .filter(moderation_items::Column::TargetId.eq(target.id()))
            .exec(&txn)
            .await?;
    }
    state
        .publish(
            &txn,
            "contributions.report.filed.v1",
            "report",
            row.id,
            1,
            &events::ReportFiled {
                report_id: row.id.to_string(),
                project_id: subject.project_id.to_string(),
                target_type: target.kind().to_owned(),
                target_id: target.id().to_string(),
                reason: reason.to_owned(),
                reporter_id: reporter,
                open_reports: open,
                auto_hidden,
                at: Some(timestamp(now)),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(proto::ReportResponse {
        report_id: row.id.to_string(),
        hidden: auto_hidden || subject.hidden_at.is_some(),
    })
}

pub async fn queue(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListQueueRequest,
) -> Result<proto::ListQueueResponse> {
    let project = parse_uuid("project_id", &request.project_id)?;
    let size = page_size(state, request.page_size)?;
    let db = &state.db;
    caller.visible_project(db, project).await?;
    ensure_moderates(db, caller, project).await?;
    let mut query = moderation_items::Entity::find()
        .filter(moderation_items::Column::ProjectId.eq(project))
        .filter(moderation_items::Column::QueuedAt.is_not_null())
        .order_by_asc(moderation_items::Column::QueuedAt)
        .order_by_asc(moderation_items::Column::TargetId);
    if !request.page_token.is_empty() {
        let bad = || Error::invalid("page_token", "is not a token of this list");
        let (micros, id) = request.page_token.split_once(':').ok_or_else(bad)?;
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        query = query.filter(
            Condition::any()
                .add(moderation_items::Column::QueuedAt.gt(at))
                .add(
                    Condition::all()
                        .add(moderation_items::Column::QueuedAt.eq(at))
                        .add(moderation_items::Column::TargetId.gt(id)),
                ),
        );
    }
    let rows = query.limit(size + 1).all(db).await?;
    let more = rows.len() as u64 > size;
    let mut items = Vec::new();
    let mut token = String::new();
    for row in rows
        .iter()
        .take(usize::try_from(size).unwrap_or(usize::MAX))
    {
        let target = Target::from_stored(&row.target_type, row.target_id);
        // Moderators see hidden targets; a deleted one leaves the queue.
        let Ok(subject) = targets::load(db, caller, target).await else {
            continue;
        };
        items.push(item_proto(&subject, Some(row)));
        token = format!(
            "{}:{}",
            row.queued_at.map_or(0, |at| at.timestamp_micros()),
            row.target_id
        );
    }
    Ok(proto::ListQueueResponse {
        items,
        next_page_token: if more { token } else { String::new() },
    })
}

pub async fn audit(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::GetAuditRequest,
) -> Result<proto::GetAuditResponse> {
    let target = Target::from_wire(request.target.as_ref())?;
    let db = &state.db;
    let subject = targets::load(db, caller, target).await?;
    ensure_moderates(db, caller, subject.project_id).await?;
    let row = item(db, target).await?;
    let reports = reports::Entity::find()
        .filter(reports::Column::TargetType.eq(target.kind()))
        .filter(reports::Column::TargetId.eq(target.id()))
        .order_by_asc(reports::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|r| proto::AuditedReport {
            id: r.id.to_string(),
            reporter_id: r.reporter_id,
            reason: reason_wire(&r.reason),
            text: r.text,
            at: Some(timestamp(r.created_at)),
            resolution: r.resolution,
            resolved_by: r.resolved_by.unwrap_or_default(),
        })
        .collect();
    Ok(proto::GetAuditResponse {
        item: Some(item_proto(&subject, row.as_ref())),
        reports,
    })
}

/// What a moderator does to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Hide,
    Restore,
    Dismiss,
}

pub async fn decide(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ModerateRequest,
    decision: Decision,
) -> Result<proto::ModerationItem> {
    let target = Target::from_wire(request.target.as_ref())?;
    let note = request.note.trim();
    if note.chars().count() > 1000 {
        return Err(Error::invalid("note", "at most 1000 characters"));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let subject = targets::load(&txn, caller, target).await?;
    ensure_moderates(&txn, caller, subject.project_id).await?;
    let moderator = caller.principal()?.subject.clone();
    let row = item(&txn, target).await?;
    let (hidden, resolution) = match decision {
        Decision::Hide => (true, UPHELD),
        Decision::Restore => (false, DISMISSED),
        // Dismissing the reports undoes what the reports did, and only that.
        Decision::Dismiss => (
            subject.hidden_at.is_some() && !row.as_ref().is_some_and(|r| r.hidden_automatically),
            DISMISSED,
        ),
    };
    targets::set_hidden(state, &txn, target, hidden, &moderator).await?;
    let now = state.clock.now();
    let resolved = reports::Entity::update_many()
        .col_expr(reports::Column::Resolution, Expr::value(resolution))
        .col_expr(reports::Column::ResolvedBy, Expr::value(moderator.clone()))
        .col_expr(reports::Column::ResolvedAt, Expr::value(now))
        .col_expr(
            reports::Column::Note,
            Expr::value((!note.is_empty()).then(|| note.to_owned())),
        )
        .filter(reports::Column::TargetType.eq(target.kind()))
        .filter(reports::Column::TargetId.eq(target.id()))
        .filter(reports::Column::Resolution.eq(OPEN))
        .exec(&txn)
        .await?
        .rows_affected;
    let resolved = i64::try_from(resolved).unwrap_or(i64::MAX);
    if row.is_some() {
        moderation_items::Entity::update_many()
            .col_expr(
                moderation_items::Column::OpenReports,
                Expr::col(moderation_items::Column::OpenReports).sub(resolved),
            )
            .col_expr(
                moderation_items::Column::QueuedAt,
                Expr::value(None::<chrono::DateTime<chrono::Utc>>),
            )
            .col_expr(
                moderation_items::Column::HiddenAutomatically,
                Expr::value(false),
            )
            .filter(moderation_items::Column::TargetType.eq(target.kind()))
            .filter(moderation_items::Column::TargetId.eq(target.id()))
            .exec(&txn)
            .await?;
        count_on_target(&txn, target, -resolved).await?;
    }
    let subject = Subject {
        hidden_at: hidden.then_some(subject.hidden_at.unwrap_or(now)),
        ..subject
    };
    let row = item(&txn, target).await?;
    state.outbox.commit(txn).await?;
    Ok(item_proto(&subject, row.as_ref()))
}
