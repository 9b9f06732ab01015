//! Projects' domain types: parsed once at the edge, valid by construction.

pub mod phase;
pub mod settings;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::projects::v1 as proto;
use serde::{Deserialize, Serialize};

/// Text people read, in the platform's locales: never empty, always present
/// in the default locale (so every reader can fall back to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Text(BTreeMap<String, String>);

impl Text {
    /// Checks `text` against the platform's `locales` (the first is the
    /// default); `max` characters per locale.
    pub fn parse(
        field: &str,
        text: Option<&proto::LocalizedText>,
        locales: &[String],
        max: usize,
        required: bool,
        violations: &mut Vec<FieldViolation>,
    ) -> Text {
        let empty = proto::LocalizedText::default();
        let text = text.unwrap_or(&empty);
        if text.text.is_empty() {
            if required {
                violations.push(FieldViolation::new(field, "is required"));
            }
            return Text::default();
        }
        let mut parsed = BTreeMap::new();
        for (locale, value) in &text.text {
            let at = format!("{field}.text[{locale}]");
            if !locales.contains(locale) {
                violations.push(FieldViolation::new(
                    at,
                    format!(
                        "the platform has no locale {locale:?} (it has {})",
                        locales.join(", ")
                    ),
                ));
                continue;
            }
            let value = value.trim();
            if value.is_empty() {
                violations.push(FieldViolation::new(at, "must not be empty"));
            } else if value.chars().count() > max {
                violations.push(FieldViolation::new(
                    at,
                    format!("must be at most {max} characters"),
                ));
            } else {
                parsed.insert(locale.clone(), value.to_owned());
            }
        }
        if let Some(default) = locales.first()
            && !text.text.contains_key(default)
        {
            violations.push(FieldViolation::new(
                format!("{field}.text[{default}]"),
                "the default locale is required, so every reader has a text to fall back to",
            ));
        }
        Text(parsed)
    }

    pub fn to_proto(&self) -> proto::LocalizedText {
        proto::LocalizedText {
            text: self.0.clone().into_iter().collect(),
        }
    }

    /// The text in `locale`, else in the default locale.
    pub fn resolve(&self, locale: &str, default: &str) -> Option<&str> {
        self.0
            .get(locale)
            .or_else(|| self.0.get(default))
            .map(String::as_str)
    }

    pub fn from_json(value: &serde_json::Value) -> Text {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn parse_time(
    field: &str,
    at: Option<&prost_types::Timestamp>,
    violations: &mut Vec<FieldViolation>,
) -> Option<DateTime<Utc>> {
    let at = at?;
    match DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(u32::MAX)) {
        Some(at) => Some(at),
        None => {
            violations.push(FieldViolation::new(field, "is not a valid time"));
            None
        }
    }
}

pub fn parse_uuid(field: &str, raw: &str) -> Result<uuid::Uuid, inspraak_kit::error::Error> {
    uuid::Uuid::parse_str(raw.trim())
        .map_err(|_| inspraak_kit::error::Error::invalid(field, "is not an id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locales() -> Vec<String> {
        vec!["nl".to_owned(), "fr".to_owned(), "en".to_owned()]
    }

    fn text(pairs: &[(&str, &str)]) -> proto::LocalizedText {
        proto::LocalizedText {
            text: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn texts_use_the_platform_locales_and_fall_back_to_the_default() {
        let mut violations = Vec::new();
        let parsed = Text::parse(
            "title",
            Some(&text(&[("nl", "Park"), ("fr", "Parc")])),
            &locales(),
            100,
            true,
            &mut violations,
        );
        assert!(violations.is_empty());
        assert_eq!(parsed.resolve("fr", "nl"), Some("Parc"));
        assert_eq!(parsed.resolve("en", "nl"), Some("Park"));
    }

    #[test]
    fn unknown_locales_and_a_missing_default_are_named() {
        let mut violations = Vec::new();
        Text::parse(
            "title",
            Some(&text(&[("de", "Park")])),
            &locales(),
            100,
            true,
            &mut violations,
        );
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["title.text[de]", "title.text[nl]"]);
    }
}
