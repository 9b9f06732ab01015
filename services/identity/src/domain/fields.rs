//! Custom registration fields: what the policy asks, and the answers people
//! give, checked against it.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::identity::v1 as proto;
use serde::{Deserialize, Serialize};

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number { min: Option<f64>, max: Option<f64> },
    SingleChoice { options: Vec<String> },
    MultipleChoice { options: Vec<String> },
    Date,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub key: String,
    pub label: BTreeMap<String, String>,
    pub kind: FieldKind,
    pub required: bool,
}

/// An answer, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldAnswer {
    Text(String),
    Number(f64),
    Choice(String),
    Choices(Vec<String>),
    Date(NaiveDate),
}

const MAX_TEXT: usize = 500;

impl FieldAnswer {
    pub fn to_proto(&self) -> proto::FieldValue {
        use proto::field_value::Value;
        let value = match self {
            Self::Text(text) => Value::Text(text.clone()),
            Self::Number(n) => Value::Number(*n),
            Self::Choice(choice) => Value::Choice(choice.clone()),
            Self::Choices(values) => Value::Choices(proto::ChoiceList {
                values: values.clone(),
            }),
            Self::Date(date) => Value::Date(date.format("%Y-%m-%d").to_string()),
        };
        proto::FieldValue { value: Some(value) }
    }
}

/// Checks `answers` against `specs`: every required field answered, no
/// unknown field, each answer of its field's type and within its limits.
/// Returns every violation at once.
pub fn check_answers(
    specs: &[FieldSpec],
    answers: &HashMap<String, proto::FieldValue>,
    field_prefix: &str,
) -> Result<BTreeMap<String, FieldAnswer>, Vec<FieldViolation>> {
    use proto::field_value::Value;
    let mut violations = Vec::new();
    let mut checked = BTreeMap::new();
    let at = |key: &str| format!("{field_prefix}[{key}]");

    for key in answers.keys() {
        if !specs.iter().any(|spec| &spec.key == key) {
            violations.push(FieldViolation::new(at(key), "is not a registration field"));
        }
    }
    for spec in specs {
        let value = answers.get(&spec.key).and_then(|v| v.value.as_ref());
        let Some(value) = value else {
            if spec.required {
                violations.push(FieldViolation::new(at(&spec.key), "is required"));
            }
            continue;
        };
        let answer = match (&spec.kind, value) {
            (FieldKind::Text, Value::Text(text)) => {
                let text = text.trim();
                if text.is_empty() && spec.required {
                    Err("is required".to_owned())
                } else if text.chars().count() > MAX_TEXT {
                    Err(format!("must be at most {MAX_TEXT} characters"))
                } else {
                    Ok(FieldAnswer::Text(text.to_owned()))
                }
            }
            (FieldKind::Number { min, max }, Value::Number(n)) => {
                if !n.is_finite() {
                    Err("must be a number".to_owned())
                } else if min.is_some_and(|min| *n < min) || max.is_some_and(|max| *n > max) {
                    Err(format!(
                        "must be between {} and {}",
                        min.map_or("-∞".to_owned(), |m| m.to_string()),
                        max.map_or("∞".to_owned(), |m| m.to_string())
                    ))
                } else {
                    Ok(FieldAnswer::Number(*n))
                }
            }
            (FieldKind::SingleChoice { options }, Value::Choice(choice)) => {
                if options.contains(choice) {
                    Ok(FieldAnswer::Choice(choice.clone()))
                } else {
                    Err(format!("must be one of {}", options.join(", ")))
                }
            }
            (FieldKind::MultipleChoice { options }, Value::Choices(list)) => {
                let mut values = list.values.clone();
                values.sort();
                values.dedup();
                if values.len() != list.values.len() {
                    Err("must not repeat a choice".to_owned())
                } else if let Some(unknown) = values.iter().find(|v| !options.contains(v)) {
                    Err(format!("{unknown:?} is not one of {}", options.join(", ")))
                } else if values.is_empty() && spec.required {
                    Err("is required".to_owned())
                } else {
                    Ok(FieldAnswer::Choices(list.values.clone()))
                }
            }
            (FieldKind::Date, Value::Date(date)) => NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map(FieldAnswer::Date)
                .map_err(|_| "must be a date written YYYY-MM-DD".to_owned()),
            (kind, _) => Err(format!("must be {}", describe(kind))),
        };
        match answer {
            Ok(answer) => {
                checked.insert(spec.key.clone(), answer);
            }
            Err(problem) => violations.push(FieldViolation::new(at(&spec.key), problem)),
        }
    }
    if violations.is_empty() {
        Ok(checked)
    } else {
        Err(violations)
    }
}

fn describe(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Number { .. } => "a number",
        FieldKind::SingleChoice { .. } => "one choice",
        FieldKind::MultipleChoice { .. } => "a list of choices",
        FieldKind::Date => "a date",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::field_value::Value;

    fn specs() -> Vec<FieldSpec> {
        vec![
            FieldSpec {
                key: "district".to_owned(),
                label: BTreeMap::from([("nl".to_owned(), "Wijk".to_owned())]),
                kind: FieldKind::SingleChoice {
                    options: vec!["centrum".to_owned(), "noord".to_owned()],
                },
                required: true,
            },
            FieldSpec {
                key: "birth_year".to_owned(),
                label: BTreeMap::new(),
                kind: FieldKind::Number {
                    min: Some(1900.0),
                    max: Some(2026.0),
                },
                required: false,
            },
        ]
    }

    fn answer(value: Value) -> proto::FieldValue {
        proto::FieldValue { value: Some(value) }
    }

    #[test]
    fn valid_answers_pass() {
        let answers = HashMap::from([
            (
                "district".to_owned(),
                answer(Value::Choice("noord".to_owned())),
            ),
            ("birth_year".to_owned(), answer(Value::Number(1984.0))),
        ]);
        let checked = check_answers(&specs(), &answers, "fields").unwrap();
        assert_eq!(checked["district"], FieldAnswer::Choice("noord".to_owned()));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let answers = HashMap::from([
            ("birth_year".to_owned(), answer(Value::Number(1850.0))),
            ("shoe_size".to_owned(), answer(Value::Number(42.0))),
        ]);
        let violations = check_answers(&specs(), &answers, "fields").unwrap_err();
        let mut fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "fields[birth_year]",
                "fields[district]",
                "fields[shoe_size]"
            ]
        );
    }

    #[test]
    fn types_must_match() {
        let answers = HashMap::from([("district".to_owned(), answer(Value::Number(3.0)))]);
        let violations = check_answers(&specs(), &answers, "fields").unwrap_err();
        assert_eq!(violations[0].description, "must be one choice");
    }
}
