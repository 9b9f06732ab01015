//! Splitting the statistics into parts (migration m0009) keeps what was
//! counted: a database with figures in the one-row-per-project table comes
//! out of the migration with the same figures, and counting goes on from
//! them. On PostgreSQL and on SQLite.

use inspraak_contributions::Migrator;
use inspraak_contributions::counters::{self, Stat, Totals};
use inspraak_kit::testing::TestDatabase;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

/// The migrations before the split.
const BEFORE_SPLIT: u32 = 8;

async fn migrated_up_to_the_split(database: &TestDatabase) -> DatabaseConnection {
    let db = database.connect().await;
    Migrator::up(&db, Some(BEFORE_SPLIT))
        .await
        .expect("the migrations before the split");
    db
}

async fn figures_survive_the_split(database: TestDatabase) {
    let db = migrated_up_to_the_split(&database).await;
    let (project, phase, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (project, row, counts) in [
        (project, Uuid::nil(), [12, 7, 30, 250, 40, 5, 2]),
        (project, phase, [10, 6, 25, 200, 40, 4, 1]),
        (other, Uuid::nil(), [1, 1, 0, 0, 0, 0, 0]),
    ] {
        // Bound values, so that ids are stored as the service stores them.
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("statistics"))
            .columns(
                [
                    "project_id",
                    "phase_id",
                    "input_count",
                    "participant_count",
                    "comment_count",
                    "reaction_count",
                    "vote_count",
                    "answered_count",
                    "overdue_count",
                ]
                .map(Alias::new),
            )
            .values_panic(
                [Expr::val(project), Expr::val(row)]
                    .into_iter()
                    .chain(counts.map(|n: i64| Expr::val(n))),
            );
        db.execute(&insert)
            .await
            .expect("a statistics row as kept before the split");
    }

    Migrator::up(&db, None).await.expect("the split");

    let totals = |project, row| {
        let db = db.clone();
        async move {
            counters::totals(&db, project, row)
                .await
                .expect("read the totals")
        }
    };
    assert_eq!(
        totals(project, Uuid::nil()).await,
        Some(Totals {
            input_count: 12,
            participant_count: 7,
            comment_count: 30,
            reaction_count: 250,
            vote_count: 40,
            answered_count: 5,
            overdue_count: 2,
        })
    );
    assert_eq!(
        totals(project, phase)
            .await
            .map(|t| (t.input_count, t.reaction_count)),
        Some((10, 200))
    );
    assert_eq!(
        totals(other, Uuid::nil()).await.map(|t| t.input_count),
        Some(1)
    );
    assert_eq!(totals(Uuid::now_v7(), Uuid::nil()).await, None);

    // Counting goes on from the figures carried over, whichever part the
    // writing connection has.
    let txn = db.begin().await.expect("begin");
    counters::add(&txn, project, phase, Stat::Reactions, 3)
        .await
        .expect("count reactions");
    counters::participant(&txn, project, phase, "nieuw")
        .await
        .expect("count a participant");
    counters::participant(&txn, project, phase, "nieuw")
        .await
        .expect("the same participant again");
    txn.commit().await.expect("commit");
    assert_eq!(
        totals(project, Uuid::nil())
            .await
            .map(|t| (t.reaction_count, t.participant_count)),
        Some((253, 8))
    );
    assert_eq!(
        totals(project, phase)
            .await
            .map(|t| (t.reaction_count, t.participant_count)),
        Some((203, 7))
    );
}

#[tokio::test]
async fn postgres_figures_survive_the_split() {
    figures_survive_the_split(TestDatabase::postgres().await).await;
}

/// Writers in transactions open at the same time, each on its own
/// connection, count in different parts (mostly: two connections may share
/// one, and then one waits for the other's commit) and the totals add up.
#[tokio::test]
async fn postgres_concurrent_writers_count_in_parts() {
    let database = TestDatabase::postgres().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.expect("migrate");
    let (project, phase) = (Uuid::now_v7(), Uuid::now_v7());
    let writers = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        let db = db.clone();
        tasks.spawn(async move {
            let txn = db.begin().await.expect("begin");
            counters::add(&txn, project, phase, Stat::Votes, 1)
                .await
                .expect("count a vote");
            // Held open, so that the writers' transactions overlap and each
            // is on a connection of its own.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            txn.commit().await.expect("commit");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a writer");
    }
    for row in [Uuid::nil(), phase] {
        let totals = counters::totals(&db, project, row)
            .await
            .expect("read the totals")
            .expect("counted");
        assert_eq!(totals.vote_count, writers as i64);
    }
    let parts = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT count(*) AS parts FROM statistics_parts WHERE project_id = '{project}'"
            ),
        ))
        .await
        .expect("count the parts")
        .expect("a count")
        .try_get::<i64>("", "parts")
        .expect("parts");
    // Eight server processes whose ids all leave the same remainder by 32
    // would be a coincidence of about one in 32^7.
    assert!(
        parts > 1,
        "{writers} concurrent writers counted in {parts} parts"
    );
}

#[tokio::test]
async fn sqlite_figures_survive_the_split() {
    figures_survive_the_split(TestDatabase::sqlite()).await;
}
