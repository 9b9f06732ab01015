//! The limit for a reaction's write: the statements contributions issues
//! for a new UP reaction (services/contributions/src/reactions.rs and
//! counters.rs), sent straight to PostgreSQL as prepared statements in one
//! transaction per reaction, with the same branches on rows affected, by a
//! pool as large as the service's (16) — no gRPC, no token, no ORM
//! mapping, no telemetry.
//!
//! Same database, same seeded inputs, same spread of people over inputs as
//! the reaction scenario; only the people are others (`direct-person-<n>`),
//! so both make new reactions all along.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait, Value,
};
use uuid::Uuid;

use crate::drive::{self, Operation};
use crate::scenarios::writes::{INPUTS, input_id};

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

async fn exec(txn: &DatabaseTransaction, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
    Ok(txn
        .execute_raw(statement(sql, values))
        .await?
        .rows_affected())
}

async fn one(
    txn: &DatabaseTransaction,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<sea_orm::QueryResult>, DbErr> {
    txn.query_one_raw(statement(sql, values)).await
}

/// The rows a change counts in: the project's own (nil phase) and the
/// phase's (as counters.rs).
fn rows(phase: Uuid) -> [Uuid; 2] {
    [Uuid::nil(), phase]
}

/// counters::add_to_row: one upsert, the row made with the delta or the
/// delta added relatively.
async fn add_to_row(
    txn: &DatabaseTransaction,
    project: Uuid,
    row: Uuid,
    column: &str,
) -> Result<(), DbErr> {
    let mut counts = [0i64; 7];
    let columns = [
        "input_count",
        "participant_count",
        "comment_count",
        "reaction_count",
        "vote_count",
        "answered_count",
        "overdue_count",
    ];
    if let Some(i) = columns.iter().position(|c| *c == column) {
        counts[i] = 1;
    }
    let mut values: Vec<Value> = vec![project.into(), row.into()];
    values.extend(counts.iter().map(|&n| Value::from(n)));
    values.push(1i64.into());
    exec(
        txn,
        &format!(
            "INSERT INTO statistics (project_id, phase_id, input_count, participant_count, comment_count, \
             reaction_count, vote_count, answered_count, overdue_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (project_id, phase_id) DO UPDATE SET {column} = statistics.{column} + $10"
        ),
        values,
    )
    .await?;
    Ok(())
}

/// counters::trending, on the row just read.
fn trending(up: i64, down: i64, comments: i64, created_at: DateTime<Utc>) -> f64 {
    // As in counters.rs: precision is irrelevant for a rank.
    #[allow(clippy::cast_precision_loss)]
    let (magnitude, age) = (
        (Ord::max(up - down + comments, 1) as f64).log10(),
        created_at.timestamp() as f64 / 45_000.0,
    );
    magnitude + age
}

/// One new UP reaction by `user` on `input`, statement for statement.
async fn react(db: &DatabaseConnection, input: Uuid, user: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let txn = db.begin().await?;
    // reactable(): the block list, the input, its project and the caller's
    // roles there (may_see), its phase (open_phase).
    one(
        &txn,
        "SELECT * FROM blocked_people WHERE user_id = $1 LIMIT 1",
        vec![user.into()],
    )
    .await?;
    let found = one(
        &txn,
        "SELECT * FROM inputs WHERE id = $1 AND deleted_at IS NULL LIMIT 1",
        vec![input.into()],
    )
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("input".to_owned()))?;
    let project: Uuid = found.try_get("", "project_id")?;
    let phase: Uuid = found.try_get("", "phase_id")?;
    one(
        &txn,
        "SELECT * FROM projected_projects WHERE id = $1 LIMIT 1",
        vec![project.into()],
    )
    .await?;
    txn.query_all_raw(statement(
        "SELECT * FROM projected_team WHERE project_id = $1 AND user_id = $2",
        vec![project.into(), user.into()],
    ))
    .await?;
    one(
        &txn,
        "SELECT * FROM projected_phases WHERE id = $1 AND project_id = $2 LIMIT 1",
        vec![phase.into(), project.into()],
    )
    .await?;
    let inserted = exec(
        &txn,
        "INSERT INTO reactions (input_id, user_id, direction, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (input_id, user_id) DO NOTHING",
        vec![input.into(), user.into(), "up".into(), now.into()],
    )
    .await?;
    if inserted == 0 {
        // Not reached: every request is a new (person, input) pair.
        return txn.commit().await;
    }
    // counters::participant
    for row in rows(phase) {
        let new = exec(
            &txn,
            "INSERT INTO participants (project_id, phase_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, phase_id, user_id) DO NOTHING",
            vec![project.into(), row.into(), user.into()],
        )
        .await?;
        if new > 0 {
            add_to_row(&txn, project, row, "participant_count").await?;
        }
    }
    // changed(): the statistics, the input's count and rank, the burst.
    for row in rows(phase) {
        add_to_row(&txn, project, row, "reaction_count").await?;
    }
    let counted = one(
        &txn,
        "UPDATE inputs SET reactions_up = reactions_up + $1 WHERE id = $2 RETURNING *",
        vec![1i64.into(), input.into()],
    )
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("input".to_owned()))?;
    let rank = trending(
        counted.try_get("", "reactions_up")?,
        counted.try_get("", "reactions_down")?,
        counted.try_get("", "comment_count")?,
        counted.try_get("", "created_at")?,
    );
    exec(
        &txn,
        "UPDATE inputs SET trending = $1 WHERE id = $2",
        vec![rank.into(), input.into()],
    )
    .await?;
    exec(
        &txn,
        "INSERT INTO reaction_bursts (input_id, project_id, first_at) VALUES ($1, $2, $3) \
         ON CONFLICT (input_id) DO UPDATE SET project_id = excluded.project_id",
        vec![input.into(), project.into(), now.into()],
    )
    .await?;
    txn.commit().await
}

/// Request `seq`: person `direct-person-<seq / INPUTS>` on input
/// `seq % INPUTS`, as the reaction scenario spreads them.
pub fn operation(db: DatabaseConnection) -> Arc<impl Operation> {
    drive::operation(move |seq, _| {
        let db = db.clone();
        async move {
            let input = Uuid::parse_str(&input_id(1 + seq % INPUTS))
                .map_err(|_| "bad_input_id".to_owned())?;
            let user = format!("direct-person-{}", seq / INPUTS);
            react(&db, input, &user).await.map_err(|e| {
                // The first few say what went wrong; the count says how often.
                eprintln!("direct PostgreSQL reaction failed: {e}");
                "database_error".to_owned()
            })
        }
    })
}
