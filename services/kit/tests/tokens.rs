//! Access-token verification refuses every kind of bad token, over the real
//! JWKS RPC and through the real gRPC layer.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use inspraak_kit::auth::{
    AuthError, AuthLayer, KeySource, PlatformRole, PrincipalKind, PublicKeys, TokenVerifier,
    VerifierSettings,
};
use inspraak_kit::testing::{TestKeys, serve_jwks};
use inspraak_kit::{Clock, grpc::GrpcServer, grpc::ServerSettings};
use inspraak_proto::testing::v1::probe_client::ProbeClient;
use inspraak_proto::testing::v1::probe_server::{Probe, ProbeServer};
use inspraak_proto::testing::v1::{SleepRequest, SleepResponse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio_util::sync::CancellationToken;

async fn verifier_for(keys: &TestKeys) -> TokenVerifier {
    let addr = serve_jwks(vec![keys.jwk()]).await;
    let source = KeySource::identity(&format!("http://{addr}")).expect("endpoint");
    TokenVerifier::new(
        VerifierSettings::default(),
        PublicKeys::new(source, Duration::from_secs(10)),
        Clock::system(),
    )
}

fn encode_parts(header: &serde_json::Value, claims: &impl serde::Serialize) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    )
}

#[tokio::test]
async fn a_valid_token_yields_its_principal() {
    let keys = TestKeys::generate();
    let verifier = verifier_for(&keys).await;
    let token = keys.token(
        "7b0c3f3e-0000-4000-8000-000000000001",
        &["platform_admin", "astronaut"],
    );
    let principal = verifier.verify(&token).await.expect("valid token");
    assert_eq!(principal.subject, "7b0c3f3e-0000-4000-8000-000000000001");
    assert_eq!(principal.kind, PrincipalKind::Person);
    assert!(principal.has_role(PlatformRole::PlatformAdmin));
    // Unknown role names grant nothing.
    assert_eq!(principal.roles.len(), 1);
}

#[tokio::test]
async fn every_kind_of_bad_token_is_refused() {
    let keys = TestKeys::generate();
    let verifier = verifier_for(&keys).await;
    let now = Utc::now();
    let valid = keys.claims(PrincipalKind::Person, "someone", &[], now);

    let alg_none = format!(
        "{}.",
        encode_parts(
            &serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": keys.kid}),
            &valid
        )
    );

    // The classic confusion attack: HS256 "signed" with the public key.
    let public_x = keys.jwk().x;
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.typ = Some("at+jwt".to_owned());
    hs_header.kid = Some(keys.kid.clone());
    let hs256_with_public_key = jsonwebtoken::encode(
        &hs_header,
        &valid,
        &EncodingKey::from_secret(public_x.as_bytes()).unwrap(),
    )
    .unwrap();

    let mut wrong_iss = valid.clone();
    wrong_iss.iss = "someone-else".to_owned();
    let mut wrong_aud = valid.clone();
    wrong_aud.aud = "another-platform".to_owned();
    let mut expired = valid.clone();
    expired.iat = (now - chrono::Duration::hours(1)).timestamp();
    expired.nbf = expired.iat;
    expired.exp = (now - chrono::Duration::minutes(45)).timestamp();
    let mut not_yet_valid = valid.clone();
    not_yet_valid.nbf = (now + chrono::Duration::hours(1)).timestamp();
    not_yet_valid.exp =
        (now + chrono::Duration::hours(1) + chrono::Duration::minutes(10)).timestamp();
    let mut too_long = valid.clone();
    too_long.exp = (now + chrono::Duration::days(30)).timestamp();

    let mut wrong_typ_header = Header::new(Algorithm::EdDSA);
    wrong_typ_header.typ = Some("JWT".to_owned());
    wrong_typ_header.kid = Some(keys.kid.clone());
    let wrong_typ = jsonwebtoken::encode(
        &wrong_typ_header,
        &valid,
        &EncodingKey::from_ed_der(&keys.pkcs8_der()),
    )
    .unwrap();

    let stranger = TestKeys::generate();
    let unknown_kid = stranger.sign(&valid);

    // Signed by another key under our key id.
    let forged =
        inspraak_kit::auth::sign_access_token(&valid, &keys.kid, &stranger.pkcs8_der()).unwrap();
    // A valid token whose payload was edited afterwards.
    let genuine = keys.sign(&valid);
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let mut elevated = valid.clone();
    elevated.roles = vec!["platform_admin".to_owned()];
    let elevated_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&elevated).unwrap());
    parts[1] = &elevated_payload;
    let tampered = parts.join(".");

    let cases: Vec<(&str, String, AuthError)> = vec![
        ("alg none", alg_none, AuthError::WrongAlgorithm),
        (
            "HS256 with the public key",
            hs256_with_public_key,
            AuthError::WrongAlgorithm,
        ),
        ("wrong iss", keys.sign(&wrong_iss), AuthError::WrongIssuer),
        ("wrong aud", keys.sign(&wrong_aud), AuthError::WrongAudience),
        ("wrong typ", wrong_typ, AuthError::WrongType),
        ("expired", keys.sign(&expired), AuthError::Expired),
        (
            "not yet valid",
            keys.sign(&not_yet_valid),
            AuthError::NotYetValid,
        ),
        (
            "lifetime too long",
            keys.sign(&too_long),
            AuthError::LifetimeTooLong,
        ),
        (
            "unknown kid",
            unknown_kid,
            AuthError::UnknownKey(stranger.kid.clone()),
        ),
        ("forged signature", forged, AuthError::BadSignature),
        ("tampered payload", tampered, AuthError::BadSignature),
        ("malformed", "not-a-token".to_owned(), AuthError::Malformed),
        (
            "three dots of garbage",
            "a.b.c".to_owned(),
            AuthError::Malformed,
        ),
    ];
    for (name, token, expected) in cases {
        let outcome = verifier.verify(&token).await;
        assert_eq!(
            outcome.as_ref().err(),
            Some(&expected),
            "{name}: {outcome:?}"
        );
        assert_eq!(
            tonic::Status::from(expected).code(),
            tonic::Code::Unauthenticated,
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_clock_decides_expiry() {
    let keys = TestKeys::generate();
    let addr = serve_jwks(vec![keys.jwk()]).await;
    let clock = Clock::manual(Utc::now());
    let verifier = TokenVerifier::new(
        VerifierSettings::default(),
        PublicKeys::new(
            KeySource::identity(&format!("http://{addr}")).unwrap(),
            Duration::from_secs(10),
        ),
        clock.clone(),
    );
    let token = keys.sign(&keys.claims(PrincipalKind::Person, "p", &[], clock.now()));
    assert!(verifier.verify(&token).await.is_ok());
    clock.advance(chrono::Duration::minutes(11)).unwrap();
    assert_eq!(
        verifier.verify(&token).await.err(),
        Some(AuthError::Expired)
    );
}

/// Verified tokens are remembered, which must change no answer: a token
/// altered in one claim is still refused, time still ends a token, and so
/// does the end of its key's `verify_until` when that comes first.
#[tokio::test]
async fn remembering_verified_tokens_changes_no_answer() {
    let keys = TestKeys::generate();
    let clock = Clock::manual(Utc::now());
    let mut jwk = keys.jwk();
    // A retired key: it verifies for one more minute.
    jwk.verify_until = Some(prost_types::Timestamp {
        seconds: clock.now().timestamp() + 60,
        nanos: 0,
    });
    let verifier = TokenVerifier::new(
        VerifierSettings::default(),
        PublicKeys::new(KeySource::Fixed(vec![jwk]), Duration::ZERO),
        clock.clone(),
    );
    let token = keys.sign(&keys.claims(PrincipalKind::Person, "p", &[], clock.now()));
    for _ in 0..3 {
        assert_eq!(verifier.verify(&token).await.expect("valid").subject, "p");
    }
    // The same token with an elevated role and the original signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = serde_json::json!(["platform_admin"]);
    let elevated = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    assert_eq!(
        verifier.verify(&elevated).await.err(),
        Some(AuthError::BadSignature)
    );
    assert!(verifier.verify(&token).await.is_ok());
    // The key's end comes before the token's: the remembered token ends with it.
    clock.advance(chrono::Duration::seconds(61)).unwrap();
    assert!(matches!(
        verifier.verify(&token).await.err(),
        Some(AuthError::UnknownKey(_))
    ));
}

struct Echo;

#[tonic::async_trait]
impl Probe for Echo {
    async fn sleep(
        &self,
        request: tonic::Request<SleepRequest>,
    ) -> Result<tonic::Response<SleepResponse>, tonic::Status> {
        // Anonymous callers are allowed here; the subject proves the layer ran.
        let slept = inspraak_kit::auth::principal(&request).map_or(0, |p| p.subject.len() as u32);
        Ok(tonic::Response::new(SleepResponse {
            slept_millis: slept,
        }))
    }
}

#[tokio::test]
async fn the_layer_turns_tokens_into_principals_and_refuses_bad_ones() {
    let keys = TestKeys::generate();
    let verifier = verifier_for(&keys).await;
    let server =
        GrpcServer::new("probe", ServerSettings::for_tests()).with_service(ProbeServer::new(Echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.serve(listener, AuthLayer::new(verifier), shutdown.clone()));

    let mut client = ProbeClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let call = |token: Option<String>| {
        let mut request = tonic::Request::new(SleepRequest { millis: 0 });
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request
    };
    let anonymous = client.sleep(call(None)).await.unwrap().into_inner();
    assert_eq!(anonymous.slept_millis, 0);
    let signed_in = client
        .sleep(call(Some(keys.token("abcd", &[]))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        signed_in.slept_millis, 4,
        "the principal reached the handler"
    );
    let refused = client
        .sleep(call(Some(TestKeys::generate().token("abcd", &[]))))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let malformed = client
        .sleep(call(Some("garbage".to_owned())))
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::Unauthenticated);

    shutdown.cancel();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_new_signing_key_is_fetched_when_a_token_names_it() {
    let old = TestKeys::generate();
    let new = TestKeys::generate();
    let jwks = inspraak_kit::testing::RotatingJwks::default();
    jwks.set(vec![old.jwk()]);
    let addr = jwks.serve().await;
    let verifier = TokenVerifier::new(
        VerifierSettings::default(),
        PublicKeys::new(
            KeySource::identity(&format!("http://{addr}")).unwrap(),
            Duration::from_millis(200),
        ),
        Clock::system(),
    );
    assert!(verifier.verify(&old.token("p", &[])).await.is_ok());

    // Identity rotates: the new key signs, the old one still verifies.
    jwks.set(vec![new.jwk(), old.jwk()]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        verifier.verify(&new.token("p", &[])).await.is_ok(),
        "the unknown kid triggered a fetch"
    );
    assert!(verifier.verify(&old.token("p", &[])).await.is_ok());

    // A burst of tokens naming keys nobody published costs one fetch at most
    // per interval, and each is refused.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let fetched_before = jwks.fetches();
    let burst = std::time::Instant::now();
    for _ in 0..20 {
        let forged = TestKeys::generate();
        assert!(matches!(
            verifier.verify(&forged.token("p", &[])).await,
            Err(AuthError::UnknownKey(_))
        ));
    }
    let intervals = burst.elapsed().as_millis() / 200 + 1;
    assert!(
        (jwks.fetches() - fetched_before) as u128 <= intervals,
        "{} fetches for 20 forged tokens in {:?}",
        jwks.fetches() - fetched_before,
        burst.elapsed()
    );
}
