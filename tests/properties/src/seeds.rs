//! Valid and nearly valid inputs for each property: where the fuzzer starts
//! (`make fuzz` writes them into `fuzz/corpus/<property>/`) and what the
//! corpus test mutates.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inspraak_kit::auth::{AccessClaims, PrincipalKind};
use inspraak_proto::contributions::v1 as contributions;
use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as identity;
use inspraak_proto::projects::v1 as projects;
use prost::Message;

pub fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: "inspraak-identity".to_owned(),
        aud: "inspraak".to_owned(),
        sub: "0193a1b2-0000-7000-8000-000000000001".to_owned(),
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: "fuzz".to_owned(),
        kind: PrincipalKind::Person,
        roles: vec!["platform_admin".to_owned()],
        departments: vec![],
        email_verified: true,
    }
}

pub fn jwk(kid: &str, key: &ed25519_dalek::VerifyingKey) -> identity::Jwk {
    identity::Jwk {
        kid: kid.to_owned(),
        kty: "OKP".to_owned(),
        crv: "Ed25519".to_owned(),
        alg: "EdDSA".to_owned(),
        x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
        verify_until: None,
    }
}

fn text(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A registration policy with one field of every kind.
pub fn policy_with_every_field() -> identity::RegistrationPolicy {
    let field =
        |key: &str, kind: identity::FieldType, required: bool| identity::RegistrationField {
            key: key.to_owned(),
            label: text(&[("nl", key), ("fr", key)]),
            r#type: kind as i32,
            required,
            ..Default::default()
        };
    identity::RegistrationPolicy {
        fields: vec![
            field("district", identity::FieldType::SingleChoice, true),
            identity::RegistrationField {
                options: vec!["noord".into(), "zuid".into(), "centrum".into()],
                ..field("interests", identity::FieldType::MultipleChoice, false)
            },
            identity::RegistrationField {
                min: 1900.0,
                max: 2026.0,
                ..field("birth_year", identity::FieldType::Number, false)
            },
            field("moved_in", identity::FieldType::Date, false),
            field("remark", identity::FieldType::Text, false),
        ]
        .into_iter()
        .map(|mut f| {
            if f.key == "district" {
                f.options = vec!["noord".into(), "zuid".into()];
            }
            f
        })
        .collect(),
        confirmation_required: true,
        unconfirmed_access: identity::UnconfirmedAccess::ReadOnly as i32,
        staff_email_domains: vec!["stad.gent".into()],
        min_password_length: 10,
        ..Default::default()
    }
}

fn answer(value: identity::field_value::Value) -> identity::FieldValue {
    identity::FieldValue { value: Some(value) }
}

/// The seeds of each property, encoded.
pub fn of(property: &str) -> Vec<Vec<u8>> {
    use identity::field_value::Value;
    match property {
        "new_input" => {
            let input = contributions::CreateInputRequest {
                project_id: "0193a1b2-0000-7000-8000-0000000000aa".into(),
                phase_id: "0193a1b2-0000-7000-8000-0000000000bb".into(),
                title: "Meer bomen in de Veldstraat".into(),
                body: "Schaduw in de zomer & <b>minder hitte</b>'; DROP TABLE inputs; --".into(),
                topics: vec!["Groen".into(), "mobiliteit".into()],
                location: Some(contributions::Location {
                    latitude: 51.05,
                    longitude: 3.72,
                }),
                anonymous: false,
                request_id: "retry-1".into(),
            };
            let bare = contributions::CreateInputRequest {
                topics: vec![],
                location: None,
                request_id: String::new(),
                ..input.clone()
            };
            vec![input.encode_to_vec(), bare.encode_to_vec()]
        }
        "platform_settings" => {
            let settings = inspraak_projects::domain::settings::Settings::default().to_proto();
            let mut three = settings.clone();
            three.locales = vec!["nl".into(), "fr".into(), "en".into()];
            vec![settings.encode_to_vec(), three.encode_to_vec()]
        }
        "participation_method" => {
            use projects::participation_method::Method;
            use projects::voting::Kind;
            let permissions = projects::ActionPermissions {
                post: projects::Permission::Registered as i32,
                comment: projects::Permission::ConfirmedEmail as i32,
                react: projects::Permission::Everyone as i32,
                vote: projects::Permission::Verified as i32,
            };
            [
                Method::Information(projects::Information {}),
                Method::Ideation(projects::Ideation { dislikes: true }),
                Method::Proposals(projects::Proposals {
                    support_threshold: 100,
                    expiry_days: 90,
                }),
                Method::Voting(projects::Voting {
                    kind: Some(Kind::Single(projects::SingleVote {})),
                }),
                Method::Voting(projects::Voting {
                    kind: Some(Kind::Multiple(projects::MultipleVote { max_votes: 3 })),
                }),
                Method::Voting(projects::Voting {
                    kind: Some(Kind::Budget(projects::BudgetVote {
                        total_budget: 250_000,
                    })),
                }),
                Method::Poll(projects::Poll {}),
            ]
            .into_iter()
            .map(|method| {
                projects::Phase {
                    method: Some(projects::ParticipationMethod {
                        method: Some(method),
                    }),
                    permissions: Some(permissions),
                    ..Default::default()
                }
                .encode_to_vec()
            })
            .collect()
        }
        "registration_policy" => vec![
            policy_with_every_field().encode_to_vec(),
            identity::RegistrationPolicy {
                unconfirmed_access: identity::UnconfirmedAccess::Full as i32,
                min_password_length: 8,
                ..Default::default()
            }
            .encode_to_vec(),
        ],
        "registration" => {
            let fields: HashMap<String, identity::FieldValue> = [
                ("district", answer(Value::Choice("noord".into()))),
                (
                    "interests",
                    answer(Value::Choices(identity::ChoiceList {
                        values: vec!["zuid".into(), "centrum".into()],
                    })),
                ),
                ("birth_year", answer(Value::Number(1980.0))),
                ("moved_in", answer(Value::Date("2019-09-01".into()))),
                (
                    "remark",
                    answer(Value::Text("<script>alert(1)</script>".into())),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            vec![
                identity::RegisterRequest {
                    email: "  An.Peeters@Gent.be ".into(),
                    password: "a long enough passphrase".into(),
                    display_name: "An Peeters".into(),
                    locale: "nl".into(),
                    fields,
                }
                .encode_to_vec(),
            ]
        }
        "grpc_timeout" => ["30S", "250m", "99999999H", "1n", "0u", "5M"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        "access_token" => vec![crate::genuine_token().into_bytes()],
        "event_envelope" => {
            let payload = events::InputCreated {
                input_id: "0193a1b2-0000-7000-8000-0000000000cc".into(),
                title: "Meer bomen".into(),
                ..Default::default()
            };
            let envelope = events::Envelope {
                event_id: "0193a1b2-0000-7000-8000-0000000000dd".into(),
                r#type: "contributions.input.created.v1".into(),
                producer: "contributions".into(),
                aggregate_type: "input".into(),
                aggregate_id: payload.input_id.clone(),
                aggregate_version: 1,
                payload: Some(prost_types::Any {
                    type_url: <events::InputCreated as prost::Name>::type_url(),
                    value: payload.encode_to_vec(),
                }),
                ..Default::default()
            };
            vec![envelope.encode_to_vec()]
        }
        other => panic!("no property {other}"),
    }
}
