//! The decision-makers' report: at the charter's cadence, in the
//! platform's time zone, per project — new inputs, participants, share
//! answered, median answer time, overdue inputs, top inputs. Made exactly
//! once per period (its period's row is the claim), skipped when nothing
//! happened, and available on demand for any period.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use inspraak_proto::events::v1 as events;
use inspraak_proto::notifications::v1 as proto;
use inspraak_proto::projects::v1 as projects;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::fanout::fan_out;
use crate::kind::Kind;
use crate::mail::content::{Content, DigestItem};
use crate::mail::templates::Lang;
use crate::projections;
use crate::routing::{Notice, Recipient};
use crate::state::State;
use crate::store::entities::{report_activity, report_inputs, report_schedule, reports_made};

// --- the facts, from events --------------------------------------------------

fn time(at: Option<&prost_types::Timestamp>, otherwise: DateTime<Utc>) -> DateTime<Utc> {
    projections::time(at).unwrap_or(otherwise)
}

/// Keeps the report's rows for inputs created (event id, event): two
/// statements however many. An input whose ids do not parse is not counted.
/// A row made before, by a later fact applied first, takes the creation's
/// project, title and time and keeps its facts.
pub async fn record_created<C: ConnectionTrait>(
    db: &C,
    created: &[(&str, &events::InputCreated)],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut inputs = Vec::with_capacity(created.len());
    let mut activities = Vec::with_capacity(created.len());
    let mut seen = std::collections::HashSet::with_capacity(created.len());
    for (event_id, e) in created {
        let (Ok(input), Ok(project)) =
            (Uuid::parse_str(&e.input_id), Uuid::parse_str(&e.project_id))
        else {
            continue;
        };
        let at = time(e.created_at.as_ref(), now);
        activities.push(act(event_id, project, &e.author_id, at));
        // One row per input in the statement: an upsert may not touch a
        // row twice.
        if !seen.insert(input) {
            continue;
        }
        inputs.push(report_inputs::ActiveModel {
            input_id: Set(input),
            project_id: Set(project),
            title: Set(e.title.clone()),
            created_at: Set(at),
            created_known: Set(true),
            ..fresh_row()
        });
    }
    if inputs.is_empty() {
        return Ok(());
    }
    report_inputs::Entity::insert_many(inputs)
        .on_conflict(
            OnConflict::column(report_inputs::Column::InputId)
                .update_columns([
                    report_inputs::Column::ProjectId,
                    report_inputs::Column::Title,
                    report_inputs::Column::CreatedAt,
                    report_inputs::Column::CreatedKnown,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    record_activity(db, activities).await
}

/// A row with no facts yet; the creation's fields are placeholders.
fn fresh_row() -> report_inputs::ActiveModel {
    report_inputs::ActiveModel {
        input_id: Set(Uuid::nil()),
        project_id: Set(Uuid::nil()),
        title: Set(String::new()),
        created_at: Set(DateTime::<Utc>::UNIX_EPOCH),
        first_feedback_at: Set(None),
        answer_seconds: Set(None),
        reactions_up: Set(0),
        overdue: Set(false),
        deleted: Set(false),
        created_known: Set(false),
    }
}

/// Keeps a fact about `input` whether or not its creation was applied yet:
/// `row` is the row as the fact alone would make it (the creation's fields
/// from the fact, marked unknown), `update` how an existing row takes the
/// fact (`excluded` naming the row offered).
async fn record_fact<C: ConnectionTrait>(
    db: &C,
    row: report_inputs::ActiveModel,
    update: OnConflict,
) -> Result<(), DbErr> {
    report_inputs::Entity::insert(row)
        .on_conflict(update)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The row a fact about `input` in `project` makes when it comes first.
fn placeholder(
    input: Uuid,
    project: &str,
    title: &str,
    at: DateTime<Utc>,
) -> report_inputs::ActiveModel {
    report_inputs::ActiveModel {
        input_id: Set(input),
        project_id: Set(Uuid::parse_str(project).unwrap_or_default()),
        title: Set(title.to_owned()),
        created_at: Set(at),
        ..fresh_row()
    }
}

/// Keeps what the report counts from one contributions event.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    event: &events::Envelope,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    match event.r#type.as_str() {
        "contributions.input.created.v1" => {
            let Ok(e) = inspraak_bus::decode_payload::<events::InputCreated>(event) else {
                return Ok(());
            };
            record_created(db, &[(event.event_id.as_str(), &e)], now).await?;
        }
        "contributions.comment.posted.v1" => {
            let Ok(e) = inspraak_bus::decode_payload::<events::CommentPosted>(event) else {
                return Ok(());
            };
            if let (Ok(project), false) = (Uuid::parse_str(&e.project_id), e.internal) {
                activity(
                    db,
                    &event.event_id,
                    project,
                    &e.author_id,
                    time(e.at.as_ref(), now),
                )
                .await?;
            }
        }
        "contributions.feedback.published.v1" => {
            let Ok(e) = inspraak_bus::decode_payload::<events::FeedbackPublished>(event) else {
                return Ok(());
            };
            if let (Ok(input), false) = (Uuid::parse_str(&e.input_id), e.edited) {
                let at = time(e.at.as_ref(), now);
                // The first answer counts; a later one (an answer after a
                // status change) leaves it.
                record_fact(
                    db,
                    report_inputs::ActiveModel {
                        first_feedback_at: Set(Some(at)),
                        answer_seconds: Set(Some(e.answer_seconds)),
                        ..placeholder(input, &e.project_id, &e.input_title, at)
                    },
                    OnConflict::column(report_inputs::Column::InputId)
                        .value(
                            report_inputs::Column::AnswerSeconds,
                            Expr::cust(
                                "CASE WHEN report_inputs.first_feedback_at IS NULL \
                                 THEN excluded.answer_seconds ELSE report_inputs.answer_seconds END",
                            ),
                        )
                        .value(
                            report_inputs::Column::FirstFeedbackAt,
                            Expr::cust(
                                "COALESCE(report_inputs.first_feedback_at, excluded.first_feedback_at)",
                            ),
                        )
                        .to_owned(),
                )
                .await?;
            }
        }
        "contributions.input.overdue.v1" => {
            let Ok(e) = inspraak_bus::decode_payload::<events::InputOverdue>(event) else {
                return Ok(());
            };
            if let Ok(input) = Uuid::parse_str(&e.input_id) {
                let at = time(e.answer_deadline.as_ref(), now);
                let row = report_inputs::ActiveModel {
                    overdue: Set(true),
                    ..placeholder(input, &e.project_id, &e.title, at)
                };
                set(db, row, report_inputs::Column::Overdue).await?;
            }
        }
        "contributions.input.deleted.v1" => {
            let Ok(e) = inspraak_bus::decode_payload::<events::InputChanged>(event) else {
                return Ok(());
            };
            if let Ok(input) = Uuid::parse_str(&e.input_id) {
                let row = report_inputs::ActiveModel {
                    deleted: Set(true),
                    ..placeholder(input, &e.project_id, &e.title, time(e.at.as_ref(), now))
                };
                set(db, row, report_inputs::Column::Deleted).await?;
            }
        }
        "contributions.reactions.changed.v1" => {
            let Ok(e) = inspraak_bus::decode_payload::<events::ReactionsChanged>(event) else {
                return Ok(());
            };
            if let Ok(input) = Uuid::parse_str(&e.input_id) {
                let row = report_inputs::ActiveModel {
                    reactions_up: Set(e.up),
                    ..placeholder(input, &e.project_id, "", time(e.at.as_ref(), now))
                };
                set(db, row, report_inputs::Column::ReactionsUp).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Sets `column` of an input's row to `row`'s value, making the row if the
/// input's creation has not been applied yet.
async fn set<C: ConnectionTrait>(
    db: &C,
    row: report_inputs::ActiveModel,
    column: report_inputs::Column,
) -> Result<(), DbErr> {
    record_fact(
        db,
        row,
        OnConflict::column(report_inputs::Column::InputId)
            .update_column(column)
            .to_owned(),
    )
    .await
}

async fn activity<C: ConnectionTrait>(
    db: &C,
    event_id: &str,
    project: Uuid,
    user: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    record_activity(db, vec![act(event_id, project, user, at)]).await
}

/// `user`'s act in `project` at `at`, as event `event_id` told it.
fn act(
    event_id: &str,
    project: Uuid,
    user: &str,
    at: DateTime<Utc>,
) -> report_activity::ActiveModel {
    report_activity::ActiveModel {
        event_id: Set(event_id.to_owned()),
        project_id: Set(project),
        user_id: Set(user.to_owned()),
        at: Set(at),
    }
}

/// Someone's acts, one per event (a redelivered event's row is kept once).
async fn record_activity<C: ConnectionTrait>(
    db: &C,
    acts: Vec<report_activity::ActiveModel>,
) -> Result<(), DbErr> {
    report_activity::Entity::insert_many(acts)
        .on_conflict(
            OnConflict::column(report_activity::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Keeps the charter's cadence.
pub async fn schedule<C: ConnectionTrait>(
    db: &C,
    charter: &projects::GovernanceCharter,
    version: i64,
) -> Result<(), DbErr> {
    let cadence = match projects::ReportCadence::try_from(charter.report_cadence) {
        Ok(projects::ReportCadence::Fortnightly) => "fortnightly",
        Ok(projects::ReportCadence::Monthly) => "monthly",
        Ok(projects::ReportCadence::Quarterly) => "quarterly",
        _ => "weekly",
    };
    if let Some(stored) = report_schedule::Entity::find_by_id(1).one(db).await?
        && stored.version > version
    {
        return Ok(());
    }
    report_schedule::Entity::insert(report_schedule::ActiveModel {
        id: Set(1),
        cadence: Set(cadence.to_owned()),
        day: Set(i32::try_from(charter.report_day).unwrap_or(1).max(1)),
        hour: Set(i32::try_from(charter.report_hour).unwrap_or(8).min(23)),
        version: Set(version),
    })
    .on_conflict(
        OnConflict::column(report_schedule::Column::Id)
            .update_columns([
                report_schedule::Column::Cadence,
                report_schedule::Column::Day,
                report_schedule::Column::Hour,
                report_schedule::Column::Version,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

// --- periods -------------------------------------------------------------------

/// The charter's cadence; weekly on Monday at 08:00 until projects says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    pub every: Every,
    pub day: u32,
    pub hour: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Week,
    Fortnight,
    Month,
    Quarter,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            every: Every::Week,
            day: 1,
            hour: 8,
        }
    }
}

fn local(zone: chrono_tz::Tz, day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let at = day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
    zone.from_local_datetime(&at)
        .earliest()
        .map_or_else(|| Utc.from_utc_datetime(&at), |t| t.with_timezone(&Utc))
}

/// The last period that ended at or before `now`: `(start, end)`.
pub fn last_period(
    now: DateTime<Utc>,
    zone: chrono_tz::Tz,
    cadence: &Cadence,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&zone).date_naive();
    match cadence.every {
        Every::Week | Every::Fortnight => {
            let weekday = cadence.day.clamp(1, 7);
            // Walk back to the latest matching weekday at the hour not after
            // now; fortnights count from the first such day of 1970.
            let mut day = today;
            loop {
                let end = local(zone, day, cadence.hour);
                let matches = day.weekday().number_from_monday() == weekday;
                let parity = cadence.every == Every::Week || (day.num_days_from_ce() / 7) % 2 == 0;
                if matches && parity && end <= now {
                    let length = if cadence.every == Every::Week { 7 } else { 14 };
                    let start = local(zone, day - Duration::days(length), cadence.hour);
                    return (start, end);
                }
                day = day.pred_opt().unwrap_or(day);
            }
        }
        Every::Month | Every::Quarter => {
            let months = if cadence.every == Every::Month { 1 } else { 3 };
            let day_of_month = cadence.day.clamp(1, 28);
            let mut year = today.year();
            let mut month = today.month();
            loop {
                let candidate = NaiveDate::from_ymd_opt(year, month, day_of_month).unwrap_or(today);
                let end = local(zone, candidate, cadence.hour);
                let aligned = months == 1 || (month - 1).is_multiple_of(3);
                if aligned && end <= now {
                    let (mut y, mut m) = (year, i64::from(month) - months);
                    if m < 1 {
                        m += 12;
                        y -= 1;
                    }
                    let start_day =
                        NaiveDate::from_ymd_opt(y, u32::try_from(m).unwrap_or(1), day_of_month)
                            .unwrap_or(candidate);
                    return (local(zone, start_day, cadence.hour), end);
                }
                if month == 1 {
                    month = 12;
                    year -= 1;
                } else {
                    month -= 1;
                }
            }
        }
    }
}

async fn cadence<C: ConnectionTrait>(db: &C) -> Result<Cadence, DbErr> {
    Ok(
        match report_schedule::Entity::find_by_id(1).one(db).await? {
            None => Cadence::default(),
            Some(row) => Cadence {
                every: match row.cadence.as_str() {
                    "fortnightly" => Every::Fortnight,
                    "monthly" => Every::Month,
                    "quarterly" => Every::Quarter,
                    _ => Every::Week,
                },
                day: u32::try_from(row.day).unwrap_or(1),
                hour: u32::try_from(row.hour).unwrap_or(8),
            },
        },
    )
}

// --- the figures ---------------------------------------------------------------

fn median(mut values: Vec<i64>) -> i64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    values[(values.len() - 1) / 2]
}

/// The report for [from, to), with project titles in `locale`.
pub async fn compute<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    locale: &str,
) -> Result<proto::Report, DbErr> {
    let new = report_inputs::Entity::find()
        .filter(report_inputs::Column::CreatedAt.gte(from))
        .filter(report_inputs::Column::CreatedAt.lt(to))
        .filter(report_inputs::Column::Deleted.eq(false))
        .filter(report_inputs::Column::CreatedKnown.eq(true))
        .all(db)
        .await?;
    let answered = report_inputs::Entity::find()
        .filter(report_inputs::Column::FirstFeedbackAt.gte(from))
        .filter(report_inputs::Column::FirstFeedbackAt.lt(to))
        .all(db)
        .await?;
    let overdue = report_inputs::Entity::find()
        .filter(report_inputs::Column::Overdue.eq(true))
        .filter(report_inputs::Column::FirstFeedbackAt.is_null())
        .filter(report_inputs::Column::Deleted.eq(false))
        .all(db)
        .await?;
    let activity = report_activity::Entity::find()
        .filter(report_activity::Column::At.gte(from))
        .filter(report_activity::Column::At.lt(to))
        .all(db)
        .await?;
    let mut projects: BTreeMap<Uuid, proto::ProjectReport> = BTreeMap::new();
    let entry = |projects: &mut BTreeMap<Uuid, proto::ProjectReport>, id: Uuid| {
        projects.entry(id).or_insert_with(|| proto::ProjectReport {
            project_id: id.to_string(),
            ..Default::default()
        });
    };
    for input in new.iter().chain(&answered).chain(&overdue) {
        entry(&mut projects, input.project_id);
    }
    for (id, report) in &mut projects {
        let mine: Vec<&report_inputs::Model> = new.iter().filter(|i| i.project_id == *id).collect();
        report.new_inputs = i64::try_from(mine.len()).unwrap_or(i64::MAX);
        let answered_now = mine
            .iter()
            .filter(|i| i.first_feedback_at.is_some())
            .count();
        // Counts far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let share = if mine.is_empty() {
            0.0
        } else {
            answered_now as f64 / mine.len() as f64
        };
        report.share_answered = share;
        let seconds: Vec<i64> = answered
            .iter()
            .filter(|i| i.project_id == *id)
            .filter_map(|i| i.answer_seconds)
            .collect();
        report.median_answer_hours = if seconds.is_empty() {
            0
        } else {
            (median(seconds).max(0) + 3599) / 3600
        };
        report.overdue_inputs =
            i64::try_from(overdue.iter().filter(|i| i.project_id == *id).count()).unwrap_or(0);
        let mut people: Vec<&str> = activity
            .iter()
            .filter(|a| a.project_id == *id)
            .map(|a| a.user_id.as_str())
            .collect();
        people.sort_unstable();
        people.dedup();
        report.participants = i64::try_from(people.len()).unwrap_or(0);
        let mut top = mine.clone();
        top.sort_by(|a, b| {
            b.reactions_up
                .cmp(&a.reactions_up)
                .then(a.input_id.cmp(&b.input_id))
        });
        report.top_inputs = top
            .into_iter()
            .take(3)
            .map(|i| proto::TopInput {
                input_id: i.input_id.to_string(),
                title: i.title.clone(),
                reactions_up: i.reactions_up,
            })
            .collect();
        report.title = projections::project_title(db, Some(*id), locale).await?;
    }
    Ok(proto::Report {
        from: Some(prost_types::Timestamp {
            seconds: from.timestamp(),
            nanos: 0,
        }),
        to: Some(prost_types::Timestamp {
            seconds: to.timestamp(),
            nanos: 0,
        }),
        projects: projects.into_values().collect(),
    })
}

fn lines(report: &proto::Report, lang: Lang) -> Vec<DigestItem> {
    let labels = match lang {
        Lang::Nl => [
            "Nieuwe bijdragen",
            "Deelnemers",
            "Beantwoord",
            "Mediane antwoordtijd (uren)",
            "Over de termijn",
            "Meest gesteund",
        ],
        Lang::Fr => [
            "Nouvelles contributions",
            "Participants",
            "Réponses",
            "Délai médian de réponse (heures)",
            "En retard",
            "Les plus soutenues",
        ],
        Lang::En => [
            "New inputs",
            "Participants",
            "Answered",
            "Median answer time (hours)",
            "Overdue",
            "Most supported",
        ],
    };
    let mut out = Vec::new();
    for p in &report.projects {
        let line = |text: String| DigestItem {
            project: if p.title.is_empty() {
                p.project_id.clone()
            } else {
                p.title.clone()
            },
            input: String::new(),
            line: text,
        };
        out.push(line(format!("{}: {}", labels[0], p.new_inputs)));
        out.push(line(format!("{}: {}", labels[1], p.participants)));
        out.push(line(format!(
            "{}: {:.0}%",
            labels[2],
            p.share_answered * 100.0
        )));
        out.push(line(format!("{}: {}", labels[3], p.median_answer_hours)));
        out.push(line(format!("{}: {}", labels[4], p.overdue_inputs)));
        for top in &p.top_inputs {
            out.push(line(format!(
                "{}: {} ({})",
                labels[5], top.title, top.reactions_up
            )));
        }
    }
    out
}

// --- the periodic report -----------------------------------------------------

pub async fn run(state: State, interval: StdDuration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = make_due(&state).await {
            tracing::warn!(%error, "making the report failed; retrying at the next tick");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Makes the report of the last period that ended, unless made already;
/// returns whether this call sent it.
pub async fn make_due(state: &State) -> Result<bool, DbErr> {
    let now = state.clock.now();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let zone = projections::time_zone(&txn).await?;
    let (from, to) = last_period(now, zone, &cadence(&txn).await?);
    // The claim: whoever inserts the period's row makes its report.
    let claimed = reports_made::Entity::insert(reports_made::ActiveModel {
        period_end: Set(to),
        period_start: Set(from),
        sent: Set(false),
        made_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(reports_made::Column::PeriodEnd)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if claimed == 0 {
        return Ok(false);
    }
    let makers = projections::holding(&txn, "decision_maker").await?;
    let mut notices = Vec::new();
    for maker in &makers {
        let report = compute(&txn, from, to, &maker.locale).await?;
        if report.projects.is_empty() {
            // Nothing happened: the period is done, nobody is written to.
            txn.commit().await?;
            return Ok(false);
        }
        let lang = Lang::of(&maker.locale);
        let label = format!(
            "{} – {}",
            from.with_timezone(&zone).format("%Y-%m-%d"),
            (to - Duration::seconds(1))
                .with_timezone(&zone)
                .format("%Y-%m-%d")
        );
        notices.push(Notice {
            kind: Kind::Report,
            recipient: Recipient::Person(maker.user_id.clone()),
            content: Content {
                status: label,
                items: lines(&report, lang),
                ..Content::default()
            },
            localized_input: Vec::new(),
            localized_status: Vec::new(),
            localized_excerpt: Vec::new(),
            project_id: None,
            input_id: None,
        });
    }
    if notices.is_empty() {
        txn.commit().await?;
        return Ok(false);
    }
    reports_made::Entity::update_many()
        .col_expr(reports_made::Column::Sent, Expr::value(true))
        .filter(reports_made::Column::PeriodEnd.eq(to))
        .exec(&txn)
        .await?;
    let written = fan_out(
        &txn,
        &format!("report:{}", to.timestamp()),
        notices,
        now,
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
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::{Cadence, Every, last_period, median};
    use chrono::{TimeZone, Utc};

    #[test]
    fn periods_end_at_the_charters_moment_in_the_platforms_zone() {
        let zone = chrono_tz::Europe::Brussels;
        // Sunday 29 November 2026, noon UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        let weekly = Cadence::default();
        let (start, end) = last_period(now, zone, &weekly);
        // Monday 23 November, 08:00 in Brussels = 07:00 UTC.
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 16, 7, 0, 0).unwrap());
        let monthly = Cadence {
            every: Every::Month,
            day: 1,
            hour: 9,
        };
        let (start, end) = last_period(now, zone, &monthly);
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 10, 1, 7, 0, 0).unwrap());
        let (_, quarter_end) = last_period(
            now,
            zone,
            &Cadence {
                every: Every::Quarter,
                ..monthly
            },
        );
        assert_eq!(
            quarter_end,
            Utc.with_ymd_and_hms(2026, 10, 1, 7, 0, 0).unwrap()
        );
        let (f_start, f_end) = last_period(
            now,
            zone,
            &Cadence {
                every: Every::Fortnight,
                ..weekly
            },
        );
        assert_eq!((f_end - f_start).num_days(), 14);
        assert!(f_end <= now && now - f_end < chrono::Duration::days(14));
    }

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(median(vec![]), 0);
        assert_eq!(median(vec![5, 1, 3]), 3);
        assert_eq!(median(vec![4, 1, 3, 2]), 2);
    }
}
