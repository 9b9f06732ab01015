//! Migrations run once, however many replicas start together, on PostgreSQL
//! (under an advisory lock) and on SQLite alike.

use inspraak_kit::testing::TestDatabase;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, Query};

type Migrator = inspraak_contributions::migration::Migrator;

async fn applied(db: &sea_orm::DatabaseConnection) -> i64 {
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from(Alias::new("seaql_migrations"))
        .to_owned();
    db.query_one(&count)
        .await
        .expect("the migrations table exists")
        .expect("a row")
        .try_get("", "n")
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once_on_postgres() {
    let database = TestDatabase::postgres().await;
    let mut replicas = Vec::new();
    for _ in 0..6 {
        let db = database.connect().await;
        replicas.push(tokio::spawn(async move {
            inspraak_kit::db::migrate::<Migrator>(&db).await
        }));
    }
    for replica in replicas {
        replica
            .await
            .unwrap()
            .expect("every replica's migrate succeeds");
    }
    let db = database.connect().await;
    let expected = <Migrator as sea_orm_migration::MigratorTrait>::migrations().len() as i64;
    assert_eq!(applied(&db).await, expected);
    // And again, as a restart would: nothing to do.
    inspraak_kit::db::migrate::<Migrator>(&db).await.unwrap();
    assert_eq!(applied(&db).await, expected);
}

#[tokio::test]
async fn the_same_migrations_run_on_sqlite() {
    let database = TestDatabase::sqlite();
    let db = database.connect().await;
    inspraak_kit::db::migrate::<Migrator>(&db).await.unwrap();
    inspraak_kit::db::migrate::<Migrator>(&db).await.unwrap();
    let expected = <Migrator as sea_orm_migration::MigratorTrait>::migrations().len() as i64;
    assert_eq!(applied(&db).await, expected);
}
