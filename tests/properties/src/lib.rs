//! What the platform's parsers and proto-to-domain mappings promise for any
//! input, written once as functions of raw bytes that panic when a promise
//! is broken. The fuzz targets in `fuzz/` (cargo-fuzz, `make fuzz`) search
//! for inputs that break them; `tests/corpus.rs` checks them over seeds and
//! generated inputs in every `make test`.
//!
//! The promises, for every mapping from the wire to a domain type:
//! - no input panics;
//! - a refusal names at least one field, and every field it names is
//!   non-empty (the caller is told what to fix);
//! - what is accepted is a fixed point: mapped back to the wire and parsed
//!   again it comes out the same, and it survives being stored (JSON) —
//!   so nothing accepted changes on its way to the database and back.

pub mod seeds;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use inspraak_kit::grpc::FieldViolation;
use prost::Message;

/// What became of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Not even a message of the expected type (or not text).
    Undecodable,
    /// Refused, with reasons.
    Refused,
    /// Accepted, and every promise about what was accepted held.
    Accepted,
}

/// Checks the promises of a refusal.
fn refusal_names_its_fields(violations: &[FieldViolation], what: &str) -> Outcome {
    assert!(!violations.is_empty(), "{what}: refused without a reason");
    for violation in violations {
        assert!(
            !violation.field.is_empty() && !violation.description.is_empty(),
            "{what}: a violation without field or description: {violation:?}"
        );
    }
    Outcome::Refused
}

/// A value survives JSON storage unchanged.
fn survives_storage<T>(value: &T, what: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let stored = serde_json::to_value(value)
        .unwrap_or_else(|e| panic!("{what}: accepted but cannot be stored: {e}: {value:?}"));
    let read: T = serde_json::from_value(stored.clone())
        .unwrap_or_else(|e| panic!("{what}: stored but cannot be read back: {e}: {stored}"));
    assert_eq!(&read, value, "{what}: changed on its way through storage");
}

/// Contributions: a new input (title, body, topics, location, ids).
pub fn new_input(data: &[u8]) -> Outcome {
    use inspraak_contributions::inputs::NewInput;
    use inspraak_proto::contributions::v1::CreateInputRequest;
    let Ok(request) = CreateInputRequest::decode(data) else {
        return Outcome::Undecodable;
    };
    match NewInput::parse(&request) {
        Err(violations) => refusal_names_its_fields(&violations, "new input"),
        Ok(input) => {
            let title = input.title.chars().count();
            assert!((3..=200).contains(&title), "title of {title} characters");
            assert_eq!(input.title.trim(), input.title);
            let body = input.body.chars().count();
            assert!((1..=20_000).contains(&body), "body of {body} characters");
            assert!(input.topics.len() <= 10, "{} topics", input.topics.len());
            for (i, topic) in input.topics.iter().enumerate() {
                assert!(
                    !topic.is_empty() && topic.chars().count() <= 50,
                    "{topic:?}"
                );
                assert!(
                    !input.topics[..i].contains(topic),
                    "repeated topic {topic:?}"
                );
            }
            if let Some((latitude, longitude)) = input.location {
                assert!((-90.0..=90.0).contains(&latitude), "latitude {latitude}");
                assert!(
                    (-180.0..=180.0).contains(&longitude),
                    "longitude {longitude}"
                );
            }
            assert!(
                input
                    .request_id
                    .as_ref()
                    .is_none_or(|id| !id.is_empty() && id.chars().count() <= 100)
            );
            let again = NewInput::parse(&input.to_request()).expect("accepted once, refused again");
            assert_eq!(again, input, "a new input changed when parsed again");
            Outcome::Accepted
        }
    }
}

/// Projects: the platform's settings (name, branding, locales, time zone,
/// charter).
pub fn platform_settings(data: &[u8]) -> Outcome {
    use inspraak_projects::domain::settings::Settings;
    use inspraak_proto::projects::v1::PlatformSettings;
    let Ok(wire) = PlatformSettings::decode(data) else {
        return Outcome::Undecodable;
    };
    match Settings::from_proto(&wire) {
        Err(violations) => refusal_names_its_fields(&violations, "platform settings"),
        Ok(settings) => {
            let again = Settings::from_proto(&settings.to_proto())
                .expect("settings accepted once, refused again");
            assert_eq!(again, settings, "settings changed when parsed again");
            survives_storage(&settings, "platform settings");
            Outcome::Accepted
        }
    }
}

/// Projects: a phase's participation method and its action permissions.
pub fn participation_method(data: &[u8]) -> Outcome {
    use inspraak_projects::domain::phase::{Method, Permissions};
    use inspraak_proto::projects::v1::Phase;
    let Ok(phase) = Phase::decode(data) else {
        return Outcome::Undecodable;
    };
    let mut violations = Vec::new();
    let method = Method::parse("phase.method", phase.method.as_ref(), &mut violations);
    let permissions = Permissions::parse(
        "phase.permissions",
        phase.permissions.as_ref(),
        &mut violations,
    );
    if !violations.is_empty() {
        return refusal_names_its_fields(&violations, "phase");
    }
    let method = method.expect("no violation, yet no method");
    let mut again = Vec::new();
    let reparsed = Method::parse("phase.method", Some(&method.to_proto()), &mut again);
    assert!(
        again.is_empty(),
        "method accepted once, refused again: {again:?}"
    );
    assert_eq!(
        reparsed.as_ref(),
        Some(&method),
        "method changed when parsed again"
    );
    let reparsed = Permissions::parse(
        "phase.permissions",
        Some(&permissions.to_proto()),
        &mut again,
    );
    assert!(
        again.is_empty(),
        "permissions accepted once, refused again: {again:?}"
    );
    assert_eq!(
        reparsed, permissions,
        "permissions changed when parsed again"
    );
    survives_storage(&method, "participation method");
    Outcome::Accepted
}

/// Identity: the registration policy (extra fields, confirmation, staff
/// domains, password length).
pub fn registration_policy(data: &[u8]) -> Outcome {
    use inspraak_identity::domain::policy::Policy;
    use inspraak_proto::identity::v1::RegistrationPolicy;
    let Ok(wire) = RegistrationPolicy::decode(data) else {
        return Outcome::Undecodable;
    };
    match Policy::from_proto(&wire) {
        Err(violations) => refusal_names_its_fields(&violations, "registration policy"),
        Ok(policy) => {
            let again = Policy::from_proto(&policy.to_proto())
                .expect("policy accepted once, refused again");
            assert_eq!(again, policy, "policy changed when parsed again");
            survives_storage(&policy, "registration policy");
            Outcome::Accepted
        }
    }
}

/// The policy registrations in [`registration`] are checked against: one
/// field of every kind.
fn policy_with_every_field() -> &'static inspraak_identity::domain::policy::Policy {
    static POLICY: OnceLock<inspraak_identity::domain::policy::Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        inspraak_identity::domain::policy::Policy::from_proto(&seeds::policy_with_every_field())
            .expect("the seed policy is valid")
    })
}

/// Identity: a registration (address, password, name, locale and the
/// policy's extra fields).
pub fn registration(data: &[u8]) -> Outcome {
    use inspraak_identity::domain::fields::check_answers;
    use inspraak_identity::domain::{DisplayName, Email, Locale, Password};
    use inspraak_proto::identity::v1::RegisterRequest;
    let Ok(request) = RegisterRequest::decode(data) else {
        return Outcome::Undecodable;
    };
    if let Ok(email) = Email::parse("email", &request.email) {
        let again =
            Email::parse("email", email.as_str()).expect("address accepted once, refused again");
        assert_eq!(again, email, "an address changed when parsed again");
        assert!(!email.domain().is_empty());
    }
    if let Ok(name) = DisplayName::parse("display_name", &request.display_name) {
        let again = DisplayName::parse("display_name", name.as_str()).expect("name refused again");
        assert_eq!(again, name, "a name changed when parsed again");
    }
    if let Ok(locale) = Locale::parse("locale", &request.locale) {
        let again = Locale::parse("locale", locale.as_str()).expect("locale refused again");
        assert_eq!(again, locale);
    }
    let _ = Password::parse("password", &request.password, 10);
    let policy = policy_with_every_field();
    match check_answers(&policy.fields, &request.fields, "fields") {
        Err(violations) => refusal_names_its_fields(&violations, "registration fields"),
        Ok(answers) => {
            for spec in policy.fields.iter().filter(|spec| spec.required) {
                assert!(
                    answers.contains_key(&spec.key),
                    "required {} missing",
                    spec.key
                );
            }
            let wire: HashMap<_, _> = answers
                .iter()
                .map(|(key, answer)| (key.clone(), answer.to_proto()))
                .collect();
            let again = check_answers(&policy.fields, &wire, "fields")
                .expect("answers accepted once, refused again");
            assert_eq!(again, answers, "answers changed when checked again");
            survives_storage(&answers, "registration answers");
            Outcome::Accepted
        }
    }
}

/// The `grpc-timeout` header every service reads its deadline from. The
/// server's reading must be tonic's own, so that the deadline it answers
/// DEADLINE_EXCEEDED at is the one tonic's timer keeps: at most 8
/// characters that `u64` parses (which, unlike the spec's `1*8DIGIT`, takes
/// a leading `+`: fuzzing found "+250m"), then a unit.
pub fn grpc_timeout(data: &[u8]) -> Outcome {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return Outcome::Undecodable;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("grpc-timeout", value);
    let parsed = inspraak_kit::grpc::grpc_timeout(&headers);
    // tonic's reading (tonic 0.14, transport::service::grpc_timeout).
    let expected = std::str::from_utf8(data).ok().and_then(|text| {
        let (digits, unit) = text.split_at_checked(text.len().checked_sub(1)?)?;
        if digits.len() > 8 {
            return None;
        }
        let amount: u64 = digits.parse().ok()?;
        Some(match unit {
            "H" => Duration::from_secs(amount * 3600),
            "M" => Duration::from_secs(amount * 60),
            "S" => Duration::from_secs(amount),
            "m" => Duration::from_millis(amount),
            "u" => Duration::from_micros(amount),
            "n" => Duration::from_nanos(amount),
            _ => return None,
        })
    });
    assert_eq!(
        parsed,
        expected,
        "grpc-timeout {:?}",
        String::from_utf8_lossy(data)
    );
    if parsed.is_some() {
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}

/// A verifier with one fixed key and a token it signed.
struct Verifying {
    runtime: tokio::runtime::Runtime,
    verifier: inspraak_kit::auth::TokenVerifier,
    genuine: String,
}

fn verifying() -> &'static Verifying {
    static VERIFYING: OnceLock<Verifying> = OnceLock::new();
    VERIFYING.get_or_init(|| {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use inspraak_kit::auth::{KeySource, PublicKeys, TokenVerifier, VerifierSettings};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let pkcs8 = key.to_pkcs8_der().expect("pkcs8");
        let now = chrono::Utc::now();
        let genuine = inspraak_kit::auth::sign_access_token(
            &seeds::claims(now.timestamp()),
            "fuzz-key",
            pkcs8.as_bytes(),
        )
        .expect("sign");
        let jwk = seeds::jwk("fuzz-key", &key.verifying_key());
        let verifier = TokenVerifier::new(
            VerifierSettings::default(),
            // No pause between fetches: an unknown key id re-reads the fixed set
            // at once instead of waiting out the refresh interval.
            PublicKeys::new(KeySource::Fixed(vec![jwk]), Duration::ZERO),
            inspraak_kit::Clock::manual(now),
        );
        Verifying {
            runtime,
            verifier,
            genuine,
        }
    })
}

/// The genuine token the access-token property starts from.
pub fn genuine_token() -> String {
    verifying().genuine.clone()
}

/// Access tokens: nothing but the genuine token verifies as its principal,
/// and nothing else verifies at all (there is one key, and one token signed
/// with it). A token that differs from the genuine one only in how its
/// base64 is written may verify, but only as the same principal.
pub fn access_token(data: &[u8]) -> Outcome {
    let Ok(token) = std::str::from_utf8(data) else {
        return Outcome::Undecodable;
    };
    let verifying = verifying();
    let verified = verifying.runtime.block_on(verifying.verifier.verify(token));
    if let Ok(principal) = verified {
        let genuine = verifying
            .runtime
            .block_on(verifying.verifier.verify(&verifying.genuine))
            .expect("the genuine token verifies");
        assert_eq!(principal, genuine, "a forged token verified: {token:?}");
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}

/// Events: any bytes a broker delivers decode to an envelope or are refused,
/// and a payload of the wrong type is refused, never mistaken for another.
pub fn event_envelope(data: &[u8]) -> Outcome {
    use inspraak_bus::decode_payload;
    use inspraak_proto::events::v1::{Envelope, InputCreated, UserRegistered};
    let Ok(envelope) = Envelope::decode(data) else {
        return Outcome::Undecodable;
    };
    let as_input = decode_payload::<InputCreated>(&envelope);
    let as_user = decode_payload::<UserRegistered>(&envelope);
    assert!(
        as_input.is_err() || as_user.is_err(),
        "one payload decoded as two event types"
    );
    if let Some(any) = &envelope.payload {
        if as_input.is_ok() {
            assert_eq!(any.type_url, <InputCreated as prost::Name>::type_url());
        }
        if as_user.is_ok() {
            assert_eq!(any.type_url, <UserRegistered as prost::Name>::type_url());
        }
    }
    if as_input.is_ok() || as_user.is_ok() {
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}

/// A property: checks one input, panicking if a promise is broken.
pub type Property = fn(&[u8]) -> Outcome;

/// Every property by name, as the fuzz targets and the corpus test know
/// them.
pub const PROPERTIES: &[(&str, Property)] = &[
    ("new_input", new_input),
    ("platform_settings", platform_settings),
    ("participation_method", participation_method),
    ("registration_policy", registration_policy),
    ("registration", registration),
    ("grpc_timeout", grpc_timeout),
    ("access_token", access_token),
    ("event_envelope", event_envelope),
];
