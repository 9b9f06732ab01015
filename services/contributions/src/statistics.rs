//! A project's or a phase's figures, read from the counters that the
//! writes keep: a handful of rows, whatever the number of inputs.

use inspraak_proto::contributions::v1 as proto;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::access::Caller;
use crate::counters::{self, Totals};
use crate::error::{Error, Result};
use crate::state::State;
use crate::status::Status;
use crate::store::entities::{answer_times, projected_phases, status_counts};
use crate::wire::parse_uuid;

/// The median of a histogram of (hours, count) rows sorted by hours: the
/// hours of the middle answer (the lower middle for an even count).
pub fn median_hours(histogram: &[(i64, i64)]) -> i64 {
    let total: i64 = histogram.iter().map(|(_, n)| *n).sum();
    if total <= 0 {
        return 0;
    }
    let middle = (total + 1) / 2;
    let mut seen = 0;
    for (hours, n) in histogram {
        seen += n;
        if seen >= middle {
            return *hours;
        }
    }
    histogram.last().map_or(0, |(hours, _)| *hours)
}

pub async fn get(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::GetStatisticsRequest,
) -> Result<proto::Statistics> {
    let project = parse_uuid("project_id", &request.project_id)?;
    caller.visible_project(&state.db, project).await?;
    let phase = if request.phase_id.is_empty() {
        Uuid::nil()
    } else {
        let phase = parse_uuid("phase_id", &request.phase_id)?;
        projected_phases::Entity::find_by_id(phase)
            .filter(projected_phases::Column::ProjectId.eq(project))
            .one(&state.db)
            .await?
            .ok_or(Error::NotFound("phase"))?;
        phase
    };
    let row = counters::totals(&state.db, project, phase).await?;
    let by_status = status_counts::Entity::find()
        .filter(status_counts::Column::ProjectId.eq(project))
        .filter(status_counts::Column::PhaseId.eq(phase))
        .all(&state.db)
        .await?
        .into_iter()
        .filter(|c| c.count > 0)
        .filter_map(|c| {
            Status::from_name(&c.status).map(|s| proto::StatusCount {
                status: s.wire() as i32,
                count: c.count,
            })
        })
        .collect();
    let histogram: Vec<(i64, i64)> = answer_times::Entity::find()
        .filter(answer_times::Column::ProjectId.eq(project))
        .filter(answer_times::Column::PhaseId.eq(phase))
        .order_by_asc(answer_times::Column::Hours)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| (r.hours, r.count))
        .collect();
    let figure = |f: fn(&Totals) -> i64| row.as_ref().map_or(0, f);
    let inputs = figure(|s| s.input_count);
    let answered = figure(|s| s.answered_count);
    // Shares of counts far below 2^52: no precision is lost.
    #[allow(clippy::cast_precision_loss)]
    let share_answered = if inputs > 0 {
        answered as f64 / inputs as f64
    } else {
        0.0
    };
    Ok(proto::Statistics {
        project_id: project.to_string(),
        phase_id: if phase.is_nil() {
            String::new()
        } else {
            phase.to_string()
        },
        inputs,
        inputs_by_status: by_status,
        participants: figure(|s| s.participant_count),
        comments: figure(|s| s.comment_count),
        reactions: figure(|s| s.reaction_count),
        votes: figure(|s| s.vote_count),
        answered,
        share_answered,
        median_hours_to_first_feedback: median_hours(&histogram),
        overdue: figure(|s| s.overdue_count),
    })
}

#[cfg(test)]
mod tests {
    use super::median_hours;

    #[test]
    fn the_median_is_the_middle_answer() {
        assert_eq!(median_hours(&[]), 0);
        assert_eq!(median_hours(&[(5, 1)]), 5);
        assert_eq!(median_hours(&[(1, 1), (2, 1), (40, 1)]), 2);
        assert_eq!(median_hours(&[(1, 2), (3, 2)]), 1);
        assert_eq!(median_hours(&[(1, 1), (3, 10), (100, 1)]), 3);
    }
}
