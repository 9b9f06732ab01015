//! Database access: connecting from a URL, running a service's migrations
//! safely when several replicas start at once, and committing transactions.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::config::Env;

/// How a service reaches its database.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: `postgres://user:pass@host:5432/db` or
    /// `sqlite://path/to/file.db?mode=rwc`.
    pub url: String,
    /// `DATABASE_MAX_CONNECTIONS`
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT`
    pub acquire_timeout: Duration,
}

impl DatabaseSettings {
    pub fn from_env(env: &mut Env, default_url: Option<String>) -> Self {
        let url = match default_url {
            Some(default) => env.or("DATABASE_URL", default, "a postgres:// or sqlite:// URL"),
            None => env
                .required("DATABASE_URL", "a postgres:// or sqlite:// URL")
                .unwrap_or_default(),
        };
        let supported = ["postgres://", "postgresql://", "sqlite:"];
        if !url.is_empty() && !supported.iter().any(|scheme| url.starts_with(scheme)) {
            env.reject(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            );
        }
        Self {
            url,
            max_connections: env.bounded_or("DATABASE_MAX_CONNECTIONS", 16, 1, 1000),
            acquire_timeout: env.duration_or("DATABASE_ACQUIRE_TIMEOUT", Duration::from_secs(5)),
        }
    }

    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }
}

/// How long a pooled connection may have been idle and still be handed out
/// without a ping first.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens a pool; with `lazy`, no connection is made until first use, so a
/// service can start (and answer liveness) while its database is still away.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(settings, false))
        .await
        .map(measured)
}

/// A pool that connects on first use.
pub async fn connect_lazy(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(settings, true))
        .await
        .map(measured)
}

/// The connection, with every statement's duration recorded as
/// `db.client.operation.duration` (seconds; `db.system.name`,
/// `db.operation.name`, and `error.type` when it failed).
fn measured(mut db: DatabaseConnection) -> DatabaseConnection {
    use opentelemetry::KeyValue;
    use opentelemetry::metrics::Histogram;
    static DURATION: std::sync::OnceLock<Histogram<f64>> = std::sync::OnceLock::new();
    let system = match db.get_database_backend() {
        DbBackend::Sqlite => "sqlite",
        DbBackend::Postgres => "postgresql",
        _ => "other_sql",
    };
    db.set_metric_callback(move |info| {
        let histogram = DURATION.get_or_init(|| {
            opentelemetry::global::meter("inspraak")
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("Duration of database statements")
                .with_boundaries(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
                .build()
        });
        let mut attributes = vec![
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.operation.name", operation(&info.statement.sql)),
        ];
        if info.failed {
            attributes.push(KeyValue::new("error.type", "error"));
        }
        histogram.record(info.elapsed.as_secs_f64(), &attributes);
    });
    db
}

/// The statement's operation (SELECT, INSERT, ...): the first word, from a
/// closed set so that the metric's labels stay few.
fn operation(sql: &str) -> &'static str {
    let first = sql.split_whitespace().next().unwrap_or_default();
    [
        "SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "WITH", "CREATE",
        "ALTER", "DROP", "SET",
    ]
    .into_iter()
    .find(|op| op.eq_ignore_ascii_case(first))
    .unwrap_or("OTHER")
}

fn options(settings: &DatabaseSettings, lazy: bool) -> ConnectOptions {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

    let mut options = ConnectOptions::new(settings.url.clone());
    // SQLite allows one writer at a time: one connection avoids "database is
    // locked" between our own connections.
    let max = if settings.is_sqlite() {
        1
    } else {
        settings.max_connections
    };
    options
        .max_connections(max)
        .min_connections(if lazy { 0 } else { 1 })
        .acquire_timeout(settings.acquire_timeout)
        // A pooled connection the network or the server dropped while it was
        // idle is found out by a ping before use and replaced, inside the
        // acquire timeout, instead of failing (or hanging) the caller's query.
        // Only one idle for a while is pinged: one back from a transaction a
        // moment ago was just pinged as it came back (the pool tests every
        // connection on release), and a ping on every acquire as well was a
        // round trip in ten of a reaction's.
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        .connect_lazy(lazy)
        .sqlx_logging(false)
        // Applied to every connection the pool opens, not just the first.
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    options
}

/// The key of the advisory lock that serialises migrations on PostgreSQL.
/// One database belongs to one service, so one key is enough.
const MIGRATION_LOCK_KEY: i64 = 0x1a5b_7261_616b; // "inspraak" in spirit

/// Runs the pending migrations of `M`. On PostgreSQL the whole run happens in
/// one transaction holding an advisory lock: replicas starting together wait
/// for the first, then find nothing left to do.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
            M::up(&txn, None).await?;
            txn.commit().await
        }
        _ => M::up(db, None).await,
    }
}

/// Whether the database answers.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// Begins a transaction that will write: on SQLite it takes the write lock at
/// BEGIN, so two writers queue instead of one failing with SQLITE_BUSY.
///
/// The BEGIN runs on a task of its own, so that it completes even when the
/// caller is dropped meanwhile (a client that gave up on its call): dropped
/// between sending BEGIN and reading its answer, the connection went back
/// to the pool inside a transaction the pool did not know of, and the next
/// caller's BEGIN met "there is already a transaction in progress". Run to
/// its end, the transaction is then dropped unused and rolled back.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let db = db.clone();
    tokio::spawn(async move { begin_writing(&db).await })
        .await
        .map_err(|e| DbErr::Custom(format!("beginning a transaction: {e}")))?
}

async fn begin_writing(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(sea_orm::TransactionOptions {
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// `CREATE INDEX IF NOT EXISTS <name> ON <table> (<columns>)`, for the
/// services' migrations.
pub fn index(
    name: &str,
    table: &str,
    columns: &[&str],
) -> sea_orm_migration::prelude::IndexCreateStatement {
    use sea_orm_migration::prelude::{Alias, Index};
    let mut index = Index::create();
    index.if_not_exists().name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}
