//! Counters kept in the transactions that change what they count: the
//! statistics per project and phase, and the counts shown with an input.
//! Each change is one relative UPDATE, so concurrent writers add up and never
//! overwrite each other; nothing is counted by scanning at read time.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, ExprTrait,
    FromQueryResult, IdenStatic, QueryFilter, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::error::Result;
use crate::store::entities::{answer_times, inputs, participants, statistics_parts, status_counts};

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
    const ALL: [Self; 7] = [
        Self::Inputs,
        Self::Participants,
        Self::Comments,
        Self::Reactions,
        Self::Votes,
        Self::Answered,
        Self::Overdue,
    ];

    fn column(self) -> statistics_parts::Column {
        use statistics_parts::Column;
        match self {
            Self::Inputs => Column::InputCount,
            Self::Participants => Column::ParticipantCount,
            Self::Comments => Column::CommentCount,
            Self::Reactions => Column::ReactionCount,
            Self::Votes => Column::VoteCount,
            Self::Answered => Column::AnsweredCount,
            Self::Overdue => Column::OverdueCount,
        }
    }
}

/// The figures of a project (nil phase) or of a phase: the sums over the
/// parts of its statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, FromQueryResult)]
pub struct Totals {
    pub input_count: i64,
    pub participant_count: i64,
    pub comment_count: i64,
    pub reaction_count: i64,
    pub vote_count: i64,
    /// Inputs with official feedback.
    pub answered_count: i64,
    /// Inputs announced overdue and still without feedback.
    pub overdue_count: i64,
}

/// The totals of `project`'s statistics row `phase` (nil: the project's
/// own), or `None` when nothing was ever counted there.
pub async fn totals<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
) -> Result<Option<Totals>> {
    let mut query = statistics_parts::Entity::find().select_only();
    for stat in Stat::ALL {
        // PostgreSQL sums bigints as numeric: cast back.
        let sum = Expr::col(stat.column()).sum().cast_as(Alias::new("BIGINT"));
        query = query.column_as(sum, stat.column().as_str());
    }
    Ok(query
        .filter(statistics_parts::Column::ProjectId.eq(project))
        .filter(statistics_parts::Column::PhaseId.eq(phase))
        // Grouped, so that no parts means no row rather than NULL sums.
        .group_by(statistics_parts::Column::ProjectId)
        .group_by(statistics_parts::Column::PhaseId)
        .into_model::<Totals>()
        .one(db)
        .await?)
}

/// How many parts a statistics row is kept in: more than the connections
/// that write at once (the pool's 16), so that concurrent writers rarely
/// share one.
const PARTS: i32 = 32;

/// The part the connection `db` writes. On PostgreSQL, its server process's
/// id modulo [`PARTS`]: a transaction is on one connection, so it always
/// writes the same part of a row and takes the statistics rows in the order
/// every writer keeps (the project's, then the phase's), while concurrent
/// transactions, on other connections, mostly write other parts and do not
/// wait for each other's commits. SQLite has one writer at a time: one part.
fn part<C: ConnectionTrait>(db: &C) -> Expr {
    match db.get_database_backend() {
        DbBackend::Postgres => Expr::cust(format!("pg_backend_pid() % {PARTS}")),
        _ => Expr::val(0),
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
    let [own, phase] = rows(phase);
    add_to_rows(db, project, stat, &[(own, delta), (phase, delta)]).await
}

/// Counts `user` as a participant of `project` and `phase` the first time
/// they contribute there. The project's row and the phase's row are counted
/// apart: a person new to this phase may be known to the project already.
pub async fn participant<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    user: &str,
) -> Result<()> {
    participant_where_unknown(db, project, phase, user, [false, false]).await
}

/// [`participant`] for a person whose rows were looked up already: `known`
/// says, for the project's row and the phase's, that the person is counted
/// there, and those rows are not tried again. (Looked up in the same
/// transaction: a person counted since is found by the insert's conflict
/// and counted once.)
pub async fn participant_where_unknown<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    phase: Uuid,
    user: &str,
    known: [bool; 2],
) -> Result<()> {
    let unknown: Vec<Uuid> = rows(phase)
        .into_iter()
        .zip(known)
        .filter_map(|(row, known)| (!known).then_some(row))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let new = new_participant_rows(db, project, &unknown, user).await?;
    let deltas: Vec<(Uuid, i64)> = new.into_iter().map(|row| (row, 1)).collect();
    add_to_rows(db, project, Stat::Participants, &deltas).await
}

/// Records `user` in the participants of statistics `rows` (the project's
/// first, as rows are locked) and returns the rows where they are new: one
/// insert where the database says which rows it made (PostgreSQL), row by
/// row where it cannot.
async fn new_participant_rows<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    rows: &[Uuid],
    user: &str,
) -> Result<Vec<Uuid>> {
    let record = |rows: &[Uuid]| {
        participants::Entity::insert_many(rows.iter().map(|&row| participants::ActiveModel {
            project_id: Set(project),
            phase_id: Set(row),
            user_id: Set(user.to_owned()),
        }))
        .on_conflict(
            OnConflict::columns([
                participants::Column::ProjectId,
                participants::Column::PhaseId,
                participants::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
    };
    if !db.support_returning() {
        let mut new = Vec::new();
        for &row in rows {
            if record(&[row]).exec_without_returning(db).await? > 0 {
                new.push(row);
            }
        }
        return Ok(new);
    }
    let mut insert = record(rows).into_query();
    insert.returning_col(participants::Column::PhaseId);
    db.query_all(&insert)
        .await?
        .into_iter()
        .map(|row| Ok(row.try_get::<Uuid>("", "phase_id")?))
        .collect()
}

/// Adds each row's delta to `stat` in the connection's part of that
/// statistics row (`deltas` in the order rows are locked: the project's
/// before the phase's): one upsert that makes a part with its delta or adds
/// the delta to it relatively, so concurrent writers add up. One statement
/// for both rows: the parts are locked from here to the commit.
async fn add_to_rows<C: ConnectionTrait>(
    db: &C,
    project: Uuid,
    stat: Stat,
    deltas: &[(Uuid, i64)],
) -> Result<()> {
    use statistics_parts::Column;
    let deltas: Vec<_> = deltas.iter().filter(|(_, delta)| *delta != 0).collect();
    if deltas.is_empty() {
        return Ok(());
    }
    let column = stat.column();
    let mut upsert = Query::insert();
    upsert.into_table(statistics_parts::Entity).columns([
        Column::ProjectId,
        Column::PhaseId,
        Column::Part,
        column,
    ]);
    for &&(row, delta) in &deltas {
        // Four values for four columns: cannot panic.
        upsert.values_panic([
            Expr::val(project),
            Expr::val(row),
            part(db),
            Expr::val(delta),
        ]);
    }
    upsert.on_conflict(
        OnConflict::columns([Column::ProjectId, Column::PhaseId, Column::Part])
            .value(
                column,
                Expr::col((statistics_parts::Entity, column))
                    .add(Expr::col((Alias::new("excluded"), column))),
            )
            .to_owned(),
    );
    db.execute(&upsert).await?;
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
    update_input(db, id, &[(count, delta)], None).await
}

/// [`add_to_input`] for reactions: each of `deltas` added to its count, and
/// the input marked as having reactions to announce since `at` unless it
/// is marked already (the coalescer's burst; see reactions.rs), all in the
/// one update.
pub async fn react_on_input<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    deltas: &[(InputCount, i64)],
    at: DateTime<Utc>,
) -> Result<Option<inputs::Model>> {
    update_input(db, id, deltas, Some(at)).await
}

async fn update_input<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    deltas: &[(InputCount, i64)],
    reactions_at: Option<DateTime<Utc>>,
) -> Result<Option<inputs::Model>> {
    let mut update = inputs::Entity::update_many().filter(inputs::Column::Id.eq(id));
    for &(count, delta) in deltas {
        update = update.col_expr(count.column(), Expr::col(count.column()).add(delta));
    }
    if let Some(at) = reactions_at {
        // The burst's first change stays its start.
        update = update.col_expr(
            inputs::Column::ReactionsSince,
            Func::coalesce([Expr::col(inputs::Column::ReactionsSince), Expr::value(at)]).into(),
        );
    }
    let ranks = deltas.iter().any(|&(count, _)| count.ranks());
    // On PostgreSQL the rank is refreshed in the same statement, computed
    // there as `trending` computes it, and the row comes back as updated:
    // one round trip where there were three, all while the row is locked.
    if db.get_database_backend() == DbBackend::Postgres {
        if ranks {
            update = update.col_expr(inputs::Column::Trending, trending_in_postgres(deltas));
        }
        return Ok(update.exec_with_returning(db).await?.into_iter().next());
    }
    update.exec(db).await?;
    let Some(input) = inputs::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if ranks {
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

/// [`trending`] of the row being updated by adding `deltas` to its counts,
/// as PostgreSQL computes it: the same IEEE operations in the same order
/// (`log` of a double is the C library's `log10`, as Rust's; the age is the
/// whole seconds of `created_at`, as `timestamp()`), so both give the same
/// rank to the bit. In a SET clause the columns are the row's old values,
/// hence the deltas added to the ones that change.
fn trending_in_postgres(deltas: &[(InputCount, i64)]) -> Expr {
    let changed = |c: InputCount| -> i64 {
        deltas
            .iter()
            .filter(|&&(count, _)| count == c)
            .map(|&(_, delta)| delta)
            .sum()
    };
    Expr::cust_with_values(
        "log(greatest((reactions_up + $1) - (reactions_down + $2) + (comment_count + $3), 1)::float8) \
         + floor(extract(epoch from created_at))::float8 / 45000::float8",
        [
            changed(InputCount::ReactionsUp),
            changed(InputCount::ReactionsDown),
            changed(InputCount::Comments),
        ],
    )
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
