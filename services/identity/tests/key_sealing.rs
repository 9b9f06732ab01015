//! The token signing keys at rest: sealed under the key-encryption key from
//! the Secret, resealed when that key changes, and a wrong key keeps identity
//! unready instead of letting it sign with keys it cannot open.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use inspraak_identity::IdentitySettings;
use inspraak_identity::store::entities::signing_keys;
use inspraak_kit::Env;
use inspraak_kit::grpc::Condition;
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::identity::v1 as proto;
use sea_orm::{EntityTrait, QueryOrder};
use support::{Backend, Identity, authed, kid_of};

/// Settings with these key-encryption keys (base64 of 32 bytes each).
fn settings(current: Option<u8>, previous: Option<u8>) -> IdentitySettings {
    let key = |byte: u8| STANDARD.encode([byte; 32]);
    let mut pairs = Vec::new();
    if let Some(byte) = current {
        pairs.push(("SIGNING_KEY_ENCRYPTION_KEY".to_owned(), key(byte)));
    }
    if let Some(byte) = previous {
        pairs.push(("SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS".to_owned(), key(byte)));
    }
    let mut env = Env::from_pairs(pairs);
    let settings = IdentitySettings::from_env(&mut env);
    env.finish().expect("valid key-encryption keys");
    settings
}

async fn stored(identity: &Identity) -> Vec<signing_keys::Model> {
    signing_keys::Entity::find()
        .order_by_asc(signing_keys::Column::CreatedAt)
        .all(&identity.running.context.db)
        .await
        .expect("read the signing keys")
}

fn is_plain_pkcs8(row: &signing_keys::Model) -> bool {
    SigningKey::from_pkcs8_der(&row.private_key).is_ok()
}

/// Every stored key is sealed under one fingerprint and none is readable.
fn all_sealed_by(rows: &[signing_keys::Model]) -> String {
    let fingerprints: Vec<_> = rows.iter().map(|r| r.sealed_by.clone()).collect();
    let first = fingerprints[0].clone().expect("sealed");
    assert!(
        fingerprints
            .iter()
            .all(|f| f.as_deref() == Some(first.as_str())),
        "{fingerprints:?}"
    );
    assert!(
        rows.iter().all(|r| !is_plain_pkcs8(r)),
        "a key readable at rest"
    );
    first
}

/// Starts identity on `database` and asserts it stays unready for two
/// seconds with only its start-up work undone (migrated, its keys
/// unopened); hands the database back.
async fn stays_unready(
    backend: Backend,
    settings: IdentitySettings,
    database: TestDatabase,
) -> TestDatabase {
    let identity = Identity::launch(backend, settings, database).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!identity.running.readiness.is_ready());
    assert_eq!(
        identity.running.readiness.unmet(),
        vec![Condition::Prepared],
        "only the signing keys keep it unready"
    );
    identity.stop_keeping_database().await
}

async fn signing_keys_are_sealed_at_rest(backend: Backend) {
    // A platform from before sealing: its key is stored as it is.
    let identity = Identity::start_with(backend, settings(None, None)).await;
    let resident = identity.resident("sealed-").await;
    let rows = stored(&identity).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sealed_by, None);
    assert!(is_plain_pkcs8(&rows[0]));
    let plain_key = rows[0].private_key.clone();
    let database = identity.stop_keeping_database().await;

    // A key-encryption key set: the stored key is sealed at start, tokens it
    // signed still verify, and it goes on signing.
    let identity = Identity::launch(backend, settings(Some(1), None), database).await;
    identity.wait_ready().await;
    let rows = stored(&identity).await;
    let first = all_sealed_by(&rows);
    assert!(
        !rows[0]
            .private_key
            .windows(plain_key.len())
            .any(|w| w == plain_key),
        "the sealed row still holds the key"
    );
    identity
        .get_me(&resident.access)
        .await
        .expect("an old token verifies");
    let session = identity.login(&resident.email).await;
    assert_eq!(kid_of(&session.access_token), rows[0].kid);
    // A rotation stores the new key sealed too.
    let admin = identity.first_admin().await;
    let rotated = identity
        .client
        .clone()
        .rotate_signing_key(authed(proto::RotateSigningKeyRequest {}, &admin.access))
        .await
        .expect("rotate")
        .into_inner();
    let rows = stored(&identity).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(all_sealed_by(&rows), first);
    let newest = identity.login(&resident.email).await.access_token;
    assert_eq!(kid_of(&newest), rotated.kid);
    let database = identity.stop_keeping_database().await;

    // The key-encryption key changed, the old one given as previous: every
    // key is resealed under the new one at start.
    let identity = Identity::launch(backend, settings(Some(2), Some(1)), database).await;
    identity.wait_ready().await;
    let second = all_sealed_by(&stored(&identity).await);
    assert_ne!(second, first);
    identity
        .get_me(&newest)
        .await
        .expect("tokens survive the change");
    let database = identity.stop_keeping_database().await;

    // The old key removed: everything still opens.
    let identity = Identity::launch(backend, settings(Some(2), None), database).await;
    identity.wait_ready().await;
    identity.get_me(&newest).await.expect("verifies");
    let session = identity.login(&resident.email).await;
    assert_eq!(kid_of(&session.access_token), rotated.kid);
    let before = stored(&identity).await;
    let database = identity.stop_keeping_database().await;

    // The wrong key, or none at all: identity never becomes ready, and the
    // stored keys are left as they were.
    let database = stays_unready(backend, settings(Some(1), None), database).await;
    let database = stays_unready(backend, settings(None, None), database).await;
    let identity = Identity::launch(backend, settings(Some(2), None), database).await;
    identity.wait_ready().await;
    assert_eq!(stored(&identity).await, before);
    println!(
        "{backend:?}: 2 signing keys sealed under {first}, resealed under {second}; a wrong key and no key left identity unready"
    );
    identity.stop().await;
}

inspraak_host::on_both_databases!(signing_keys_are_sealed_at_rest);

#[test]
fn bad_key_encryption_keys_are_reported_with_their_variable() {
    let cases = [
        (
            vec![("SIGNING_KEY_ENCRYPTION_KEY", "short".to_owned())],
            "SIGNING_KEY_ENCRYPTION_KEY",
        ),
        (
            vec![(
                "SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS",
                STANDARD.encode([1u8; 32]),
            )],
            "SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS",
        ),
        (
            vec![
                ("SIGNING_KEY_ENCRYPTION_KEY", STANDARD.encode([1u8; 32])),
                (
                    "SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS",
                    STANDARD.encode([1u8; 32]),
                ),
            ],
            "SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS",
        ),
    ];
    for (pairs, variable) in cases {
        let mut env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let _ = IdentitySettings::from_env(&mut env);
        let error = env.finish().expect_err(variable).to_string();
        assert!(error.contains(variable), "{error}");
        assert!(
            !error.contains(&STANDARD.encode([1u8; 32])),
            "a key printed: {error}"
        );
    }
}
