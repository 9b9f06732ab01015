//! What a notification says, kept with its delivery so that it can be
//! rendered in the recipient's locale when it is sent (or gathered into a
//! digest).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// The project's title in the recipient's locale.
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub input: String,
    /// A status name (accepted, ...), a decision (approved, ...), or a role.
    #[serde(default)]
    pub status: String,
    /// A confirmation or reset code.
    #[serde(default)]
    pub code: String,
    /// The text to quote: a comment's start, a feedback, an update's title.
    #[serde(default)]
    pub excerpt: String,
    /// A digest's items, grouped by project and input when rendered.
    #[serde(default)]
    pub items: Vec<DigestItem>,
}

/// One notification inside a digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestItem {
    pub project: String,
    pub input: String,
    /// The notification's title, already rendered in the locale.
    pub line: String,
}
