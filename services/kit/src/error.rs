//! The errors services answer with, mapped to gRPC statuses in one place:
//! every service's operations return these, so every service answers alike.

use crate::grpc::{FieldViolation, invalid_argument};
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};
use tonic::Status;

/// What a caller hears while the database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable; retry";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0:?}")]
    Invalid(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A stale etag: someone changed the resource since the caller read it.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        // Messages may quote what the caller sent: bounded, like the
        // violations (see `invalid_argument`).
        let text = |message: String| crate::grpc::bounded(&message, 300);
        match error {
            Error::Invalid(violations) => invalid_argument(&violations),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::AlreadyExists(message) => Status::already_exists(text(message)),
            Error::FailedPrecondition(message) => Status::failed_precondition(text(message)),
            Error::PermissionDenied(message) => Status::permission_denied(text(message)),
            Error::Unauthenticated(message) => Status::unauthenticated(text(message)),
            Error::Aborted(message) => Status::aborted(text(message)),
            Error::ResourceExhausted(message) => Status::resource_exhausted(text(message)),
            // A database that cannot be reached is a passing condition the
            // caller can wait out; anything else the database said is a bug.
            Error::Database(error) if is_unavailable(&error) => {
                tracing::warn!(%error, "database unavailable");
                Status::unavailable(DATABASE_UNAVAILABLE)
            }
            // Internals stay in the log; the caller learns only that it failed.
            Error::Database(error) => {
                tracing::error!(%error, "database error");
                Status::internal("internal error")
            }
            Error::Internal(message) => {
                tracing::error!(%message, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// Whether `error` says the database could not be reached (no connection
/// within `DATABASE_ACQUIRE_TIMEOUT`, a connection refused, reset or cut in
/// the middle of a statement, a server shutting down) rather than that a
/// statement or the data were wrong. The first kind passes once the database
/// is back, so callers may retry; the second is a bug.
pub fn is_unavailable(error: &DbErr) -> bool {
    match error {
        // A timeout waiting for the pool, or a pool closed at shutdown.
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => match runtime {
            RuntimeErr::SqlxError(error) => sqlx_unavailable(error),
            #[allow(unreachable_patterns)] // other drivers, when enabled
            _ => false,
        },
        _ => false,
    }
}

fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        // Every I/O error: sqlx reads and writes only the connection's socket
        // (refused, reset, broken pipe, end of stream mid-reply, timeouts).
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(error) => {
            match error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                Some(sqlite) => {
                    sqlx::error::DatabaseError::code(sqlite).is_some_and(|code| sqlite_busy(&code))
                }
                None => error.code().is_some_and(|code| unavailable_sqlstate(&code)),
            }
        }
        _ => false,
    }
}

/// SQLite's "database is locked": another writer held the file past the
/// busy timeout (SQLITE_BUSY, SQLITE_LOCKED and their extended codes,
/// whose low byte is the primary code). Worth a retry, not a bug.
fn sqlite_busy(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// PostgreSQL's SQLSTATEs for a server that cannot serve now: class 08
/// (connection exception), an administrator's or a crash's shutdown, a server
/// still starting, too many connections.
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::io;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sea_orm::{ConnAcquireErr, ConnectionTrait};
    use tonic::Code;

    use super::*;

    fn code(error: DbErr) -> Code {
        Status::from(Error::Database(error)).code()
    }

    fn sqlx_query(error: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
    }

    fn io(kind: io::ErrorKind) -> sqlx::Error {
        sqlx::Error::Io(io::Error::from(kind))
    }

    /// A PostgreSQL error with only a SQLSTATE, as the server sends it.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "from the server"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn server(sqlstate: &'static str) -> DbErr {
        sqlx_query(sqlx::Error::Database(Box::new(Sqlstate(sqlstate))))
    }

    #[test]
    fn connectivity_failures_are_unavailable() {
        let unavailable = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            DbErr::Conn(RuntimeErr::SqlxError(Arc::new(io(
                io::ErrorKind::ConnectionRefused,
            )))),
            sqlx_query(io(io::ErrorKind::ConnectionReset)),
            sqlx_query(io(io::ErrorKind::UnexpectedEof)),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(io(
                io::ErrorKind::BrokenPipe,
            )))),
            sqlx_query(sqlx::Error::PoolTimedOut),
            sqlx_query(sqlx::Error::PoolClosed),
            server("08006"), // connection_failure
            server("57P01"), // admin_shutdown
            server("57P03"), // cannot_connect_now
            server("53300"), // too_many_connections
        ];
        for error in unavailable {
            let text = error.to_string();
            let status = Status::from(Error::Database(error));
            assert_eq!(status.code(), Code::Unavailable, "{text}");
            assert_eq!(status.message(), DATABASE_UNAVAILABLE);
        }
    }

    /// A second writer on an SQLite file that the first holds locked,
    /// without waiting: "database is locked" is a busy database, retryable.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_unavailable() {
        let path = std::env::temp_dir().join(format!("inspraak-busy-{}.db", uuid::Uuid::now_v7()));
        let url = format!("sqlite:{}?mode=rwc", path.display());
        let connect = |url: String| async move {
            let mut options = sea_orm::ConnectOptions::new(url);
            options.max_connections(1).sqlx_logging(false);
            sea_orm::Database::connect(options)
                .await
                .expect("open the file")
        };
        let (holder, other) = (connect(url.clone()).await, connect(url).await);
        holder
            .execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .expect("a table");
        holder
            .execute_unprepared("BEGIN IMMEDIATE")
            .await
            .expect("the write lock");
        other
            .execute_unprepared("PRAGMA busy_timeout = 0")
            .await
            .expect("no waiting");
        let error = other
            .execute_unprepared("INSERT INTO t (n) VALUES (1)")
            .await
            .expect_err("the file is locked");
        let text = error.to_string();
        assert!(text.contains("locked"), "{text}");
        assert_eq!(code(error), Code::Unavailable, "{text}");
        holder.execute_unprepared("ROLLBACK").await.expect("unlock");
        drop((holder, other));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn sqlite_codes_that_mean_busy() {
        for busy in ["5", "6", "261", "517", "773", "262"] {
            assert!(sqlite_busy(busy), "{busy}");
        }
        for other in ["1", "19", "2067", "11", "14", "SQLITE_BUSY", ""] {
            assert!(!sqlite_busy(other), "{other}");
        }
    }

    #[test]
    fn bugs_stay_internal() {
        let bugs = [
            server("42601"), // syntax_error
            server("23505"), // unique_violation nobody handled
            server("42P01"), // undefined_table
            sqlx_query(sqlx::Error::RowNotFound),
            sqlx_query(sqlx::Error::Protocol("unexpected message".to_owned())),
            sqlx_query(sqlx::Error::ColumnNotFound("id".to_owned())),
            DbErr::Query(RuntimeErr::Internal("bad state".to_owned())),
            DbErr::Custom("a bug".to_owned()),
            DbErr::RecordNotFound("input".to_owned()),
            DbErr::Type("not a uuid".to_owned()),
        ];
        for error in bugs {
            let text = error.to_string();
            let status = Status::from(Error::Database(error));
            assert_eq!(status.code(), Code::Internal, "{text}");
            assert_eq!(status.message(), "internal error", "no internals leak");
        }
    }

    /// What sqlx really returns when nothing listens: UNAVAILABLE, once the
    /// acquire timeout is over and not much later.
    #[tokio::test]
    async fn a_database_that_refuses_connections_is_unavailable_within_the_acquire_timeout() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        }; // closed again: connecting is refused
        let mut settings =
            crate::db::DatabaseSettings::new(format!("postgres://nobody@127.0.0.1:{port}/none"));
        settings.acquire_timeout = Duration::from_millis(300);
        let db = crate::db::connect_lazy(&settings)
            .await
            .expect("a lazy pool");
        let started = Instant::now();
        let error = db
            .execute_unprepared("SELECT 1")
            .await
            .expect_err("nothing listens");
        let elapsed = started.elapsed();
        assert_eq!(code(error), Code::Unavailable);
        assert!(
            elapsed < settings.acquire_timeout + Duration::from_secs(1),
            "took {elapsed:?}"
        );
    }

    /// And what a real database says about a wrong statement: INTERNAL.
    #[tokio::test]
    async fn a_wrong_statement_is_internal() {
        let db = crate::db::connect(&crate::db::DatabaseSettings::new("sqlite::memory:"))
            .await
            .expect("an in-memory database");
        let error = db
            .execute_unprepared("SELECT * FROM no_such_table")
            .await
            .expect_err("no such table");
        assert_eq!(code(error), Code::Internal);
    }
}
