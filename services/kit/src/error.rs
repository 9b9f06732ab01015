//! The errors services answer with, mapped to gRPC statuses in one place:
//! every service's operations return these, so every service answers alike.

use crate::grpc::{FieldViolation, invalid_argument};
use tonic::Status;

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
