//! Wire values as operators read them: times, localized text, enum names.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// A wire timestamp as RFC 3339 (UTC, seconds); empty when unset.
pub fn time(t: &Option<prost_types::Timestamp>) -> String {
    to_datetime(t)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub fn to_datetime(t: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// One text of a locale → text map: English if there, else the first
/// locale in alphabetical order, so the choice is stable.
pub fn pick(text: &HashMap<String, String>) -> String {
    if let Some(en) = text.get("en") {
        return en.clone();
    }
    let mut locales: Vec<_> = text.keys().collect();
    locales.sort();
    locales
        .first()
        .and_then(|l| text.get(*l))
        .cloned()
        .unwrap_or_default()
}

pub fn localized(text: &Option<inspraak_proto::projects::v1::LocalizedText>) -> String {
    text.as_ref().map(|t| pick(&t.text)).unwrap_or_default()
}

/// `PROJECT_STATE_PUBLISHED` with prefix `PROJECT_STATE_` → `published`.
pub fn enum_word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_lowercase()
}

/// Shortens long text for a table cell.
pub fn cell(text: &str, max: usize) -> String {
    let text = text.replace(['\n', '\r'], " ");
    if text.chars().count() <= max {
        text
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_first_else_the_first_locale() {
        let mut text = HashMap::new();
        text.insert("nl".to_owned(), "Park".to_owned());
        text.insert("fr".to_owned(), "Parc".to_owned());
        assert_eq!(pick(&text), "Parc");
        text.insert("en".to_owned(), "Park (en)".to_owned());
        assert_eq!(pick(&text), "Park (en)");
        assert_eq!(enum_word("PROJECT_STATE_DRAFT", "PROJECT_STATE_"), "draft");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
