//! `inspraak report`: the decision-makers' report for any period, as the
//! periodic one is made.

use chrono::{DateTime, NaiveDate, Utc};
use inspraak_proto::notifications::v1::GetReportRequest;
use serde_json::json;

use crate::cli::api::{Api, call};
use crate::cli::failure::{Failure, Result};
use crate::cli::output::Outcome;
use crate::cli::words::{cell, time, timestamp};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Start of the period (YYYY-MM-DD, midnight UTC, or RFC 3339)
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// End of the period, excluded [default: now]
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Without --from: the period is this many days up to --to
    #[arg(long, default_value_t = 30)]
    pub days: u32,
}

pub fn parse_time(raw: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("{raw:?} is not a date"));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.to_utc())
        .map_err(|_| format!("{raw:?} is neither YYYY-MM-DD nor an RFC 3339 time"))
}

pub async fn run(api: &mut Api, args: ReportArgs) -> Result<Outcome> {
    let to = args.to.unwrap_or_else(Utc::now);
    let from = args
        .from
        .unwrap_or_else(|| to - chrono::Duration::days(i64::from(args.days)));
    if from >= to {
        return Err(Failure::usage("--from must be before --to"));
    }
    let report = call!(
        api,
        notifications.get_report(GetReportRequest {
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        }),
        "reading the report"
    )?;
    let rows = report
        .projects
        .iter()
        .map(|p| {
            vec![
                cell(&p.title, 40),
                p.new_inputs.to_string(),
                p.participants.to_string(),
                format!("{:.0}%", p.share_answered * 100.0),
                if p.median_answer_hours == 0 {
                    String::new()
                } else {
                    format!("{} h", p.median_answer_hours)
                },
                p.overdue_inputs.to_string(),
                p.top_inputs
                    .first()
                    .map(|t| format!("{} (+{})", cell(&t.title, 30), t.reactions_up))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let value = json!({
        "from": time(&report.from),
        "to": time(&report.to),
        "projects": report.projects.iter().map(|p| json!({
            "project_id": p.project_id,
            "title": p.title,
            "new_inputs": p.new_inputs,
            "participants": p.participants,
            "share_answered": p.share_answered,
            "median_answer_hours": p.median_answer_hours,
            "overdue_inputs": p.overdue_inputs,
            "top_inputs": p.top_inputs.iter().map(|t| json!({"input_id": t.input_id, "title": t.title, "reactions_up": t.reactions_up})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let footer = if report.projects.is_empty() {
        "nothing happened in this period: no report would be sent".to_owned()
    } else {
        format!("period {} to {}", time(&report.from), time(&report.to))
    };
    Ok(Outcome::table(
        vec![
            "project",
            "new inputs",
            "participants",
            "answered",
            "median answer",
            "overdue",
            "top input",
        ],
        rows,
        value,
    )
    .with_footer(footer))
}
