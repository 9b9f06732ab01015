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
        if !url.is_empty()
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
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

pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.clone());
    // SQLite allows one writer at a time; a single connection avoids
    // "database is locked" between our own connections, and WAL keeps reads
    // from blocking behind it.
    let max = if settings.is_sqlite() {
        1
    } else {
        settings.max_connections
    };
    options
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .await?;
    }
    Ok(db)
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
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
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
