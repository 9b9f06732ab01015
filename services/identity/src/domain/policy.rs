//! The registration policy: what registering asks, what unconfirmed accounts
//! may do, who may hold staff roles, how long passwords must be.

use std::collections::HashSet;

use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::identity::v1 as proto;
use serde::{Deserialize, Serialize};

use super::fields::{FieldKind, FieldSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnconfirmedAccess {
    ReadOnly,
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub fields: Vec<FieldSpec>,
    pub confirmation_required: bool,
    pub unconfirmed_access: UnconfirmedAccess,
    pub staff_email_domains: Vec<String>,
    pub min_password_length: u32,
}

impl Default for Policy {
    /// Until an admin sets one: confirmation required, unconfirmed accounts
    /// read-only, passwords of at least 10 characters, no extra fields.
    fn default() -> Self {
        Self {
            fields: Vec::new(),
            confirmation_required: true,
            unconfirmed_access: UnconfirmedAccess::ReadOnly,
            staff_email_domains: Vec::new(),
            min_password_length: 10,
        }
    }
}

impl Policy {
    /// Whether an address may hold a staff role (an empty list allows any).
    pub fn allows_staff_domain(&self, domain: &str) -> bool {
        self.staff_email_domains.is_empty() || self.staff_email_domains.iter().any(|d| d == domain)
    }

    /// Parses a policy from the API, reporting every problem at once.
    pub fn from_proto(policy: &proto::RegistrationPolicy) -> Result<Self, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        let mut keys = HashSet::new();
        let mut fields = Vec::new();
        for (i, field) in policy.fields.iter().enumerate() {
            let at = |what: &str| format!("policy.fields[{i}].{what}");
            let key_ok = !field.key.is_empty()
                && field.key.len() <= 40
                && field
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                violations.push(FieldViolation::new(
                    at("key"),
                    "must be 1 to 40 lower-case letters, digits or _",
                ));
            } else if !keys.insert(field.key.clone()) {
                violations.push(FieldViolation::new(at("key"), "is used by another field"));
            }
            if field
                .label
                .values()
                .any(|l| l.trim().is_empty() || l.chars().count() > 200)
            {
                violations.push(FieldViolation::new(
                    at("label"),
                    "labels must be 1 to 200 characters",
                ));
            }
            let options = || -> Result<Vec<String>, String> {
                let options: Vec<String> =
                    field.options.iter().map(|o| o.trim().to_owned()).collect();
                let unique: HashSet<&String> = options.iter().collect();
                if options.is_empty() {
                    Err("a choice field needs options".to_owned())
                } else if unique.len() != options.len() || options.iter().any(String::is_empty) {
                    Err("options must be distinct and not empty".to_owned())
                } else {
                    Ok(options)
                }
            };
            let kind = match proto::FieldType::try_from(field.r#type) {
                Ok(proto::FieldType::Text) => Ok(FieldKind::Text),
                Ok(proto::FieldType::Date) => Ok(FieldKind::Date),
                Ok(proto::FieldType::Number) => {
                    let bounded = field.min != 0.0 || field.max != 0.0;
                    if bounded
                        && (field.min > field.max
                            || !field.min.is_finite()
                            || !field.max.is_finite())
                    {
                        Err("min must not exceed max".to_owned())
                    } else if bounded {
                        Ok(FieldKind::Number {
                            min: Some(field.min),
                            max: Some(field.max),
                        })
                    } else {
                        Ok(FieldKind::Number {
                            min: None,
                            max: None,
                        })
                    }
                }
                Ok(proto::FieldType::SingleChoice) => {
                    options().map(|options| FieldKind::SingleChoice { options })
                }
                Ok(proto::FieldType::MultipleChoice) => {
                    options().map(|options| FieldKind::MultipleChoice { options })
                }
                Ok(proto::FieldType::Unspecified) | Err(_) => {
                    Err("must name a field type".to_owned())
                }
            };
            match kind {
                Ok(kind) => fields.push(FieldSpec {
                    key: field.key.clone(),
                    label: field.label.clone().into_iter().collect(),
                    kind,
                    required: field.required,
                }),
                Err(problem) => violations.push(FieldViolation::new(at("type"), problem)),
            }
        }
        let unconfirmed_access = match proto::UnconfirmedAccess::try_from(policy.unconfirmed_access)
        {
            Ok(proto::UnconfirmedAccess::Full) => UnconfirmedAccess::Full,
            Ok(proto::UnconfirmedAccess::ReadOnly) => UnconfirmedAccess::ReadOnly,
            _ => {
                violations.push(FieldViolation::new(
                    "policy.unconfirmed_access",
                    "must be READ_ONLY or FULL",
                ));
                UnconfirmedAccess::ReadOnly
            }
        };
        let mut domains = Vec::new();
        for (i, domain) in policy.staff_email_domains.iter().enumerate() {
            let domain = domain.trim().to_lowercase();
            let ok = domain.contains('.')
                && !domain.starts_with('.')
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if ok {
                domains.push(domain);
            } else {
                violations.push(FieldViolation::new(
                    format!("policy.staff_email_domains[{i}]"),
                    "is not a domain name",
                ));
            }
        }
        if !(8..=128).contains(&policy.min_password_length) {
            violations.push(FieldViolation::new(
                "policy.min_password_length",
                "must be between 8 and 128",
            ));
        }
        if violations.is_empty() {
            Ok(Self {
                fields,
                confirmation_required: policy.confirmation_required,
                unconfirmed_access,
                staff_email_domains: domains,
                min_password_length: policy.min_password_length,
            })
        } else {
            Err(violations)
        }
    }

    pub fn to_proto(&self) -> proto::RegistrationPolicy {
        let fields = self
            .fields
            .iter()
            .map(|field| {
                let (r#type, options, min, max) = match &field.kind {
                    FieldKind::Text => (proto::FieldType::Text, vec![], 0.0, 0.0),
                    FieldKind::Date => (proto::FieldType::Date, vec![], 0.0, 0.0),
                    FieldKind::Number { min, max } => (
                        proto::FieldType::Number,
                        vec![],
                        min.unwrap_or(0.0),
                        max.unwrap_or(0.0),
                    ),
                    FieldKind::SingleChoice { options } => {
                        (proto::FieldType::SingleChoice, options.clone(), 0.0, 0.0)
                    }
                    FieldKind::MultipleChoice { options } => {
                        (proto::FieldType::MultipleChoice, options.clone(), 0.0, 0.0)
                    }
                };
                proto::RegistrationField {
                    key: field.key.clone(),
                    label: field.label.clone().into_iter().collect(),
                    r#type: r#type as i32,
                    required: field.required,
                    options,
                    min,
                    max,
                }
            })
            .collect();
        proto::RegistrationPolicy {
            fields,
            confirmation_required: self.confirmation_required,
            unconfirmed_access: match self.unconfirmed_access {
                UnconfirmedAccess::ReadOnly => proto::UnconfirmedAccess::ReadOnly as i32,
                UnconfirmedAccess::Full => proto::UnconfirmedAccess::Full as i32,
            },
            staff_email_domains: self.staff_email_domains.clone(),
            min_password_length: self.min_password_length,
            version: 0,
            etag: String::new(),
            updated_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_round_trips_through_the_api() {
        let policy = Policy::default();
        assert_eq!(Policy::from_proto(&policy.to_proto()).unwrap(), policy);
    }

    #[test]
    fn bad_policies_report_each_problem() {
        let mut bad = Policy::default().to_proto();
        bad.min_password_length = 4;
        bad.staff_email_domains = vec!["not a domain".to_owned()];
        bad.fields = vec![
            proto::RegistrationField {
                key: "District".to_owned(),
                r#type: proto::FieldType::Text as i32,
                ..Default::default()
            },
            proto::RegistrationField {
                key: "x".to_owned(),
                r#type: proto::FieldType::SingleChoice as i32,
                ..Default::default()
            },
        ];
        let violations = Policy::from_proto(&bad).unwrap_err();
        assert_eq!(violations.len(), 4, "{violations:?}");
    }
}
