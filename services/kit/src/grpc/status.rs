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

/// How many bytes of a field path or description travel back. Statuses
/// are sent as HTTP/2 headers, which clients cap (often at 16 KiB): a
/// description that quotes a 100,000-character value, or a thousand
/// violations, would break the response instead of explaining it.
const MAX_TEXT: usize = 120;
/// How many violations are listed; the rest are counted.
const MAX_VIOLATIONS: usize = 20;

/// `text`, cut to at most `max` bytes at a character boundary (marked with
/// `…`).
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// INVALID_ARGUMENT with every violation attached (the first
/// [`MAX_VIOLATIONS`] of them, each bounded).
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for violation in violations.iter().take(MAX_VIOLATIONS) {
        details.add_bad_request_violation(
            bounded(&violation.field, MAX_TEXT),
            bounded(&violation.description, MAX_TEXT),
        );
    }
    if violations.len() > MAX_VIOLATIONS {
        details.add_bad_request_violation(
            "",
            format!("and {} more", violations.len() - MAX_VIOLATIONS),
        );
    }
    let message = match violations {
        [one] => format!(
            "{}: {}",
            bounded(&one.field, MAX_TEXT),
            bounded(&one.description, MAX_TEXT)
        ),
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

    #[test]
    fn echoed_input_stays_small() {
        let huge = "🙂".repeat(5_000);
        let many: Vec<FieldViolation> = (0..100)
            .map(|i| {
                FieldViolation::new(
                    format!("fields.{huge}{i}"),
                    format!("{huge:?} is not allowed"),
                )
            })
            .collect();
        let status = invalid_argument(&many);
        let violations = status
            .get_details_bad_request()
            .expect("BadRequest details")
            .field_violations;
        assert_eq!(violations.len(), MAX_VIOLATIONS + 1);
        assert_eq!(violations[MAX_VIOLATIONS].description, "and 80 more");
        assert!(
            violations
                .iter()
                .all(|v| v.field.len() <= MAX_TEXT + 3 && v.description.len() <= MAX_TEXT + 3)
        );
        assert!(
            status.details().len() < 8 * 1024,
            "{}",
            status.details().len()
        );
        assert_eq!(bounded("abc", 2), "ab…");
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("a🙂", 3), "a…", "never inside a character");
    }
}
