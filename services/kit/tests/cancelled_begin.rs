//! A caller dropped while its transaction's BEGIN is in flight (a client
//! that gave up on its call) leaves no connection inside a transaction:
//! nothing stays "idle in transaction" on the server and the next
//! transaction on the pool begins cleanly. On the real PostgreSQL.

use std::time::Duration;

use inspraak_kit::db::{DatabaseSettings, begin_write, connect};
use inspraak_kit::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Connections of `database` the server sees idle inside a transaction.
async fn idle_in_transaction(admin: &sea_orm::DatabaseConnection, database: &str) -> i64 {
    admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = $1 AND state = 'idle in transaction'",
            [database.into()],
        ))
        .await
        .expect("read pg_stat_activity")
        .expect("a count")
        .try_get::<i64>("", "n")
        .expect("n")
}

#[tokio::test]
async fn a_begin_cut_short_leaves_no_transaction_behind() {
    let database = TestDatabase::postgres().await;
    let name = database.url.rsplit('/').next().expect("a name").to_owned();
    let mut settings = DatabaseSettings::new(database.url.clone());
    settings.max_connections = 1;
    let db = connect(&settings).await.expect("connect");
    let admin = connect(&DatabaseSettings::new(
        inspraak_kit::testing::postgres_admin_url(),
    ))
    .await
    .expect("connect as admin");

    // Cut short at times spread over the round trip of a BEGIN, so that
    // some cuts fall between its sending and its answer.
    for attempt in 0..200u64 {
        let cut = Duration::from_micros(attempt * 10);
        let _ = tokio::time::timeout(cut, begin_write(&db)).await;
        // A BEGIN that completed after the cut is rolled back as its
        // connection returns to the pool; one left behind stays in its
        // transaction until the connection's next use.
        let mut left = idle_in_transaction(&admin, &name).await;
        for _ in 0..100 {
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            left = idle_in_transaction(&admin, &name).await;
        }
        assert_eq!(
            left, 0,
            "a BEGIN cut short after {cut:?} left its connection in a transaction"
        );
    }
    // The one connection, handed out again: its transaction starts afresh
    // and commits what it wrote.
    let txn = begin_write(&db).await.expect("begin");
    txn.execute_unprepared("CREATE TABLE written (n integer)")
        .await
        .expect("write");
    txn.commit().await.expect("commit");
    db.execute_unprepared("SELECT n FROM written")
        .await
        .expect("the table committed");
}
