//! Moving the pending bursts of reactions onto their inputs (migration
//! m0010) keeps every burst waiting to be announced, with its start, and
//! leaves the inputs without one unmarked; the old table stays, empty of
//! what moved, for the previous release's replicas during a rolling
//! upgrade. On PostgreSQL and on SQLite.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use inspraak_contributions::Migrator;
use inspraak_contributions::store::entities::inputs;
use inspraak_kit::testing::TestDatabase;
use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

/// The migrations before the move.
const BEFORE_THE_MOVE: u32 = 9;

fn input(id: Uuid, project: Uuid, now: DateTime<Utc>) -> inputs::Model {
    inputs::Model {
        id,
        project_id: project,
        phase_id: Uuid::now_v7(),
        title: "Meer bomen op het plein".to_owned(),
        body: "Schaduw in de zomer".to_owned(),
        topics: serde_json::json!([]),
        latitude: None,
        longitude: None,
        anonymous: false,
        author_id: "auteur".to_owned(),
        status: "proposed".to_owned(),
        request_id: None,
        feedback_given: false,
        created_at: now,
        answer_deadline: now + Duration::days(14),
        updated_at: now,
        deleted_at: None,
        version: 1,
        hidden_at: None,
        cost: 0,
        support_threshold: 0,
        expires_at: None,
        first_feedback_at: None,
        overdue_at: None,
        reactions_up: 3,
        reactions_down: 1,
        comment_count: 0,
        vote_count: 0,
        open_reports: 0,
        trending: 0.0,
        reactions_since: None,
    }
}

async fn bursts_move_onto_their_inputs(database: TestDatabase) {
    let db = database.connect().await;
    Migrator::up(&db, Some(BEFORE_THE_MOVE))
        .await
        .expect("the migrations before the move");
    // Whole seconds: both databases keep them exactly.
    let now = Utc::now().trunc_subsecs(0);
    let project = Uuid::now_v7();
    let (waiting, quiet) = (Uuid::now_v7(), Uuid::now_v7());
    for id in [waiting, quiet] {
        // Without the column the migration adds.
        let mut row = input(id, project, now).into_active_model();
        row.reactions_since = NotSet;
        inputs::Entity::insert(row)
            .exec_without_returning(&db)
            .await
            .expect("an input as kept before the move");
    }
    let started = now - Duration::seconds(3);
    let mut burst = Query::insert();
    burst
        .into_table(Alias::new("reaction_bursts"))
        .columns(["input_id", "project_id", "first_at"].map(Alias::new))
        .values_panic([Expr::val(waiting), Expr::val(project), Expr::val(started)]);
    db.execute(&burst)
        .await
        .expect("a burst pending before the move");

    Migrator::up(&db, None).await.expect("the move");

    let since = |id| {
        let db = db.clone();
        async move {
            inputs::Entity::find_by_id(id)
                .one(&db)
                .await
                .expect("read the input")
                .expect("the input")
                .reactions_since
        }
    };
    assert_eq!(since(waiting).await, Some(started));
    assert_eq!(since(quiet).await, None);
    let left = Query::select()
        .expr(Expr::col(Alias::new("input_id")))
        .from(Alias::new("reaction_bursts"))
        .to_owned();
    assert!(
        db.query_all(&left)
            .await
            .expect("the old table is still there")
            .is_empty(),
        "a burst moved onto its input is no longer in the old table"
    );
}

#[tokio::test]
async fn postgres_bursts_move_onto_their_inputs() {
    bursts_move_onto_their_inputs(TestDatabase::postgres().await).await;
}

#[tokio::test]
async fn sqlite_bursts_move_onto_their_inputs() {
    bursts_move_onto_their_inputs(TestDatabase::sqlite()).await;
}
