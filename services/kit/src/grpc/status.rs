//! Building precise statuses: INVALID_ARGUMENT carries a
//! `google.rpc.BadRequest` with one violation per bad field, so callers can
//! show each problem next to the field it concerns.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, e.g. `project.title`.
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// INVALID_ARGUMENT with every violation attached.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for violation in violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    let message = match violations {
        [one] => format!("{}: {}", one.field, one.description),
        many => format!("{} invalid fields", many.len()),
    };
    Status::with_error_details(Code::InvalidArgument, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_travel_in_the_status_details() {
        let status = invalid_argument(&[
            FieldViolation::new("email", "is not an e-mail address"),
            FieldViolation::new("display_name", "must not be empty"),
        ]);
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad_request = status
            .get_details_bad_request()
            .expect("BadRequest details");
        let fields: Vec<&str> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["email", "display_name"]);
    }
}
