//! What went wrong, in plain words, and the exit code scripts can rely on.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | anything else (an internal error of a service, a local file that cannot be written) |
//! | 2 | the command line or a file given to it is wrong |
//! | 3 | not signed in, or the session expired: `inspraak login` |
//! | 4 | signed in, but not allowed to do this |
//! | 5 | what was named does not exist |
//! | 6 | refused: invalid values, a precondition, a conflict, a stale read |
//! | 7 | a service cannot be reached or is not serving |

use std::fmt;
use std::process::ExitCode;

use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Other = 1,
    Usage = 2,
    NotSignedIn = 3,
    Forbidden = 4,
    NotFound = 5,
    Refused = 6,
    Unavailable = 7,
}

/// A failed command: a message for people and a kind for the exit code.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self::new(Kind::Other, message)
    }

    pub fn not_signed_in(message: impl Into<String>) -> Self {
        Self::new(Kind::NotSignedIn, message)
    }

    /// `status` from a call described by `doing` ("listing projects").
    pub fn from_status(doing: &str, status: &Status) -> Self {
        let (kind, words) = match status.code() {
            Code::Unauthenticated => (
                Kind::NotSignedIn,
                "not signed in, or the session expired (run `inspraak login`)",
            ),
            Code::PermissionDenied => (Kind::Forbidden, "not allowed"),
            Code::NotFound => (Kind::NotFound, "not found"),
            Code::InvalidArgument => (Kind::Refused, "invalid values"),
            Code::FailedPrecondition => (Kind::Refused, "refused"),
            Code::AlreadyExists => (Kind::Refused, "already exists"),
            Code::Aborted => (
                Kind::Refused,
                "changed by someone else meanwhile; read it again and retry",
            ),
            Code::OutOfRange => (Kind::Refused, "out of range"),
            Code::ResourceExhausted => (Kind::Refused, "too many requests; wait and retry"),
            Code::Unavailable => (Kind::Unavailable, "the service cannot be reached"),
            Code::DeadlineExceeded => (Kind::Unavailable, "the service did not answer in time"),
            Code::Unimplemented => (
                Kind::Other,
                "the service does not offer this call (an older version?)",
            ),
            _ => (Kind::Other, "the service failed"),
        };
        let mut message = format!("{doing}: {words}");
        let violations = status
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        let detail = status.message().trim();
        // With field violations the message only summarises them; they
        // follow one per line.
        if !detail.is_empty() && detail != words && violations.is_empty() {
            message.push_str(&format!(" — {detail}"));
        }
        message.push_str(&format!(" (gRPC status {:?})", status.code()));
        for violation in violations {
            message.push_str(&format!(
                "\n  - {}: {}",
                violation.field, violation.description
            ));
        }
        if let Some(precondition) = status.get_details_precondition_failure() {
            for violation in precondition.violations {
                message.push_str(&format!(
                    "\n  - {} {}: {}",
                    violation.r#type, violation.subject, violation.description
                ));
            }
        }
        Self::new(kind, message)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A call's reply, or its error with what was being done.
pub trait Doing<T> {
    fn doing(self, what: &str) -> Result<T>;
}

impl<T> Doing<T> for std::result::Result<tonic::Response<T>, Status> {
    fn doing(self, what: &str) -> Result<T> {
        self.map(tonic::Response::into_inner)
            .map_err(|status| Failure::from_status(what, &status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violations_are_listed_in_plain_words() {
        let mut details = tonic_types::ErrorDetails::new();
        details.add_bad_request_violation("page_size", "must be between 0 and 1000");
        let status =
            Status::with_error_details(Code::InvalidArgument, "page_size: must be", details);
        let failure = Failure::from_status("listing dead letters", &status);
        assert_eq!(failure.kind, Kind::Refused);
        assert!(
            failure
                .message
                .starts_with("listing dead letters: invalid values"),
            "{failure}"
        );
        assert!(failure.message.contains("InvalidArgument"), "{failure}");
        assert!(
            failure
                .message
                .contains("\n  - page_size: must be between 0 and 1000"),
            "{failure}"
        );
        assert_eq!(failure.exit_code(), ExitCode::from(6));
    }

    #[test]
    fn permission_refusals_have_their_own_exit_code() {
        let failure = Failure::from_status(
            "listing dead letters",
            &Status::permission_denied("dead letters are for platform admins"),
        );
        assert_eq!(failure.kind, Kind::Forbidden);
        assert_eq!(
            failure.message,
            "listing dead letters: not allowed — dead letters are for platform admins (gRPC status PermissionDenied)"
        );
    }
}
