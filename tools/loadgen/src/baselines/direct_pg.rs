//! The limit for a reaction's write: the statements contributions issues
//! for a new UP reaction (services/contributions/src/reactions.rs,
//! on_input.rs and counters.rs), sent straight to PostgreSQL as prepared statements in one
//! transaction per reaction, with the same branches on rows affected, by a
//! pool as large as the service's (16) — no gRPC, no token, no ORM
//! mapping, no telemetry.
//!
//! Same database, same seeded inputs, same spread of people over inputs as
//! the reaction scenario; only the people are others (`direct-person-<n>`),
//! so both make new reactions all along.

use std::sync::Arc;

use chrono::Utc;
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

/// counters::add_to_rows: one upsert for the project's and the phase's
/// rows, the connection's part of each made with its delta or the delta
/// added relatively.
async fn add_to_rows(
    txn: &DatabaseTransaction,
    project: Uuid,
    deltas: &[(Uuid, i64)],
    column: &str,
) -> Result<(), DbErr> {
    let mut values: Vec<Value> = Vec::new();
    let mut rows = Vec::new();
    for (i, &(row, delta)) in deltas.iter().enumerate() {
        rows.push(format!(
            "(${}, ${}, pg_backend_pid() % 32, ${})",
            3 * i + 1,
            3 * i + 2,
            3 * i + 3
        ));
        values.extend([project.into(), row.into(), delta.into()]);
    }
    exec(
        txn,
        &format!(
            "INSERT INTO statistics_parts (project_id, phase_id, part, {column}) VALUES {} \
             ON CONFLICT (project_id, phase_id, part) DO UPDATE SET {column} = statistics_parts.{column} + excluded.{column}",
            rows.join(", ")
        ),
        values,
    )
    .await?;
    Ok(())
}

/// One new UP reaction by `user` on `input`, statement for statement.
async fn react(db: &DatabaseConnection, input: Uuid, user: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let txn = db.begin().await?;
    // reactable() (on_input.rs): the input, its project and phase, the
    // caller's block and place on the team, in one statement.
    let found = one(
        &txn,
        "SELECT i.project_id AS input_project, i.phase_id AS input_phase, i.*, p.*, ph.*, b.*, \
           EXISTS (SELECT 1 FROM projected_team t WHERE t.project_id = i.project_id AND t.user_id = $1) AS on_team, \
           EXISTS (SELECT 1 FROM projected_team t WHERE t.project_id = i.project_id AND t.user_id = $1 \
                   AND t.role = 'manager') AS manager, \
           EXISTS (SELECT 1 FROM participants pa WHERE pa.project_id = i.project_id AND pa.user_id = $1 \
                   AND pa.phase_id = $3) AS known_to_project, \
           EXISTS (SELECT 1 FROM participants pa WHERE pa.project_id = i.project_id AND pa.user_id = $1 \
                   AND pa.phase_id = i.phase_id) AS known_to_phase \
         FROM inputs i \
         LEFT JOIN projected_projects p ON p.id = i.project_id \
         LEFT JOIN projected_phases ph ON ph.id = i.phase_id AND ph.project_id = i.project_id \
         LEFT JOIN blocked_people b ON b.user_id = $1 \
         WHERE i.id = $2 AND i.deleted_at IS NULL",
        vec![user.into(), input.into(), Uuid::nil().into()],
    )
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("input".to_owned()))?;
    let project: Uuid = found.try_get("", "input_project")?;
    let phase: Uuid = found.try_get("", "input_phase")?;
    let known: bool = found.try_get::<bool>("", "known_to_project")?
        && found.try_get::<bool>("", "known_to_phase")?;
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
    // counters::participant_where_unknown: for a person not yet counted in
    // both rows, the rows they are new in, then their count (in this load a
    // person is new to both rows or to neither).
    let [own, phase] = rows(phase);
    if !known {
        let new: Vec<(Uuid, i64)> = txn
        .query_all_raw(statement(
            "INSERT INTO participants (project_id, phase_id, user_id) VALUES ($1, $2, $3), ($4, $5, $6) \
             ON CONFLICT (project_id, phase_id, user_id) DO NOTHING RETURNING phase_id",
            vec![
                project.into(),
                own.into(),
                user.into(),
                project.into(),
                phase.into(),
                user.into(),
            ],
        ))
        .await?
        .iter()
        .map(|row| Ok((row.try_get::<Uuid>("", "phase_id")?, 1)))
        .collect::<Result<_, DbErr>>()?;
        if !new.is_empty() {
            add_to_rows(&txn, project, &new, "participant_count").await?;
        }
    }
    // changed(): the statistics, then the input's count, rank and burst.
    add_to_rows(&txn, project, &[(own, 1), (phase, 1)], "reaction_count").await?;
    // counters::react_on_input: the count, the rank and the burst's mark
    // in one update.
    one(
        &txn,
        "UPDATE inputs SET reactions_up = reactions_up + $1, \
           reactions_since = COALESCE(reactions_since, $2), \
           trending = log(greatest((reactions_up + $3) - (reactions_down + $4) + (comment_count + $5), 1)::float8) \
             + floor(extract(epoch from created_at))::float8 / 45000::float8 \
         WHERE id = $6 RETURNING *",
        vec![
            1i64.into(),
            now.into(),
            1i64.into(),
            0i64.into(),
            0i64.into(),
            input.into(),
        ],
    )
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("input".to_owned()))?;
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
