//! Counters kept in the transactions that change what they count: the
//! statistics per project and phase, and the counts shown with an input.
//! Each change is one relative UPDATE, so concurrent writers add up and never
//! overwrite each other; nothing is counted by scanning at read time.

use chrono::{DateTime, Utc};
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::error::Result;
use crate::store::entities::{answer_times, inputs, participants, statistics, status_counts};

/// A counter of the statistics of a project and its phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Inputs,
    Participants,
    Comments,
    Reactions,
    Votes,
    Answered,
    Overdue,
}

impl Stat {
    fn column(self) -> statistics::Column {
        match self {
            Self::Inputs => statistics::Column::InputCount,
            Self::Participants => statistics::Column::ParticipantCount,
            Self::Comments => statistics::Column::CommentCount,
            Self::Reactions => statistics::Column::ReactionCount,
            Self::Votes => statistics::Column::VoteCount,
            Self::Answered => statistics::Column::AnsweredCount,
            Self::Overdue => statistics::Column::OverdueCount,
        }
    }
}

/// The rows a change counts in: the project's own (nil phase) and the
/// phase's.
fn rows(phase: Uuid) -> [Uuid; 2] {
    [Uuid::nil(), phase]
}

/// Adds `delta` to `stat` of `project` and of its `phase`.
pub async fn add<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    stat: Stat,
    delta: i64,
) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    for row in rows(phase) {
        add_to_row(db, project, row, stat, delta).await?;
    }
    Ok(())
}

/// Counts `user` as a participant of `project` and `phase` the first time
/// they contribute there.
pub async fn participant<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    user: &str,
) -> Result<()> {
    for row in rows(phase) {
        let inserted = participants::Entity::insert(participants::ActiveModel {
            project_id: Set(project),
            phase_id: Set(row),
            user_id: Set(user.to_owned()),
        })
        .on_conflict(
            OnConflict::columns([
                participants::Column::ProjectId,
                participants::Column::PhaseId,
                participants::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted > 0 {
            // The project's row and the phase's row are counted apart: a
            // person new to this phase may be known to the project already.
            add_to_row(db, project, row, Stat::Participants, 1).await?;
        }
    }
    Ok(())
}

/// Adds `delta` to `stat` of one statistics row: one upsert that makes the
/// row with `delta` or adds `delta` to it relatively, so concurrent writers
/// add up. One statement, not an insert and an update: the row is hot (every
/// reaction in a project counts in it) and its lock is held from this
/// statement to the commit.
async fn add_to_row<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    row: Uuid,
    stat: Stat,
    delta: i64,
) -> Result<()> {
    let mut fresh = statistics::ActiveModel {
        project_id: Set(project),
        phase_id: Set(row),
        input_count: Set(0),
        participant_count: Set(0),
        comment_count: Set(0),
        reaction_count: Set(0),
        vote_count: Set(0),
        answered_count: Set(0),
        overdue_count: Set(0),
    };
    fresh.set(stat.column(), delta.into());
    statistics::Entity::insert(fresh)
        .on_conflict(
            OnConflict::columns([statistics::Column::ProjectId, statistics::Column::PhaseId])
                .value(
                    stat.column(),
                    Expr::col((statistics::Entity, stat.column())).add(delta),
                )
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Moves one input from status `from` to `to` in the per-status counts
/// (`None`: the input enters or leaves the counts).
pub async fn status<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<()> {
    for row in rows(phase) {
        for (status, delta) in [(from, -1i64), (to, 1)] {
            let Some(status) = status else { continue };
            // One upsert: made with `delta`, or `delta` added relatively.
            status_counts::Entity::insert(status_counts::ActiveModel {
                project_id: Set(project),
                phase_id: Set(row),
                status: Set(status.to_owned()),
                count: Set(delta),
            })
            .on_conflict(
                OnConflict::columns([
                    status_counts::Column::ProjectId,
                    status_counts::Column::PhaseId,
                    status_counts::Column::Status,
                ])
                .value(
                    status_counts::Column::Count,
                    Expr::col((status_counts::Entity, status_counts::Column::Count)).add(delta),
                )
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        }
    }
    Ok(())
}

/// Records a first answer given `seconds` after publication, in whole hours
/// rounded up (an answer within the first hour counts as 1).
pub async fn answer_time<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    seconds: i64,
) -> Result<()> {
    let hours = (Ord::max(seconds, 0) + 3599) / 3600;
    let hours = Ord::max(hours, 1);
    for row in rows(phase) {
        // One upsert: made at one, or one added relatively.
        answer_times::Entity::insert(answer_times::ActiveModel {
            project_id: Set(project),
            phase_id: Set(row),
            hours: Set(hours),
            count: Set(1),
        })
        .on_conflict(
            OnConflict::columns([
                answer_times::Column::ProjectId,
                answer_times::Column::PhaseId,
                answer_times::Column::Hours,
            ])
            .value(
                answer_times::Column::Count,
                Expr::col((answer_times::Entity, answer_times::Column::Count)).add(1),
            )
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// A count shown with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputCount {
    ReactionsUp,
    ReactionsDown,
    Comments,
    Votes,
    OpenReports,
}

impl InputCount {
    fn column(self) -> inputs::Column {
        match self {
            Self::ReactionsUp => inputs::Column::ReactionsUp,
            Self::ReactionsDown => inputs::Column::ReactionsDown,
            Self::Comments => inputs::Column::CommentCount,
            Self::Votes => inputs::Column::VoteCount,
            Self::OpenReports => inputs::Column::OpenReports,
        }
    }

    /// Whether the count feeds the trending rank.
    fn ranks(self) -> bool {
        matches!(
            self,
            Self::ReactionsUp | Self::ReactionsDown | Self::Comments
        )
    }
}

/// Adds `delta` to a count of input `id` (a relative update that takes the
/// row's lock, so concurrent changes add up) and returns the input as it is
/// afterwards, with its trending rank refreshed when the count feeds it.
pub async fn add_to_input<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    count: InputCount,
    delta: i64,
) -> Result<Option<inputs::Model>> {
    let update = inputs::Entity::update_many()
        .col_expr(count.column(), Expr::col(count.column()).add(delta))
        .filter(inputs::Column::Id.eq(id));
    // The row as updated, in the same statement where the database returns
    // it (PostgreSQL): one round trip less while the row is locked.
    let input = if db.support_returning() {
        update.exec_with_returning(db).await?.into_iter().next()
    } else {
        update.exec(db).await?;
        inputs::Entity::find_by_id(id).one(db).await?
    };
    let Some(input) = input else {
        return Ok(None);
    };
    if count.ranks() {
        let rank = trending(&input);
        inputs::Entity::update_many()
            .col_expr(inputs::Column::Trending, Expr::value(rank))
            .filter(inputs::Column::Id.eq(id))
            .exec(db)
            .await?;
        return Ok(Some(inputs::Model {
            trending: rank,
            ..input
        }));
    }
    Ok(Some(input))
}

/// The trending rank: the order of magnitude of the input's net support
/// and discussion plus its age, so that ten times the activity weighs as
/// much as 12.5 hours of freshness. Computed when the counts change, never
/// at read time, so "trending" is an index range like the other sorts.
pub fn trending(input: &inputs::Model) -> f64 {
    rank(
        input.reactions_up - input.reactions_down + input.comment_count,
        input.created_at,
    )
}

fn rank(activity: i64, created_at: DateTime<Utc>) -> f64 {
    // Precision is irrelevant for a rank: the counts stay far below 2^52.
    #[allow(clippy::cast_precision_loss)]
    let (magnitude, age) = (
        (Ord::max(activity, 1) as f64).log10(),
        created_at.timestamp() as f64 / 45_000.0,
    );
    magnitude + age
}

#[cfg(test)]
mod tests {
    use super::rank;
    use chrono::{Duration, Utc};

    #[test]
    fn ten_times_the_activity_weighs_as_much_as_twelve_and_a_half_hours() {
        let now = Utc::now();
        let older = now - Duration::seconds(45_000);
        let fresh = rank(1, now);
        let busy = rank(10, older);
        assert!((fresh - busy).abs() < 1e-9, "{fresh} vs {busy}");
        assert!(rank(11, older) > fresh);
        assert!(rank(0, now) > rank(0, older));
    }
}
