//! Identity under attack: stolen refresh tokens, forged access tokens, key
//! rotation, account enumeration and password guessing — all with tokens and
//! accounts this service really issued.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inspraak_proto::identity::v1 as proto;
use support::{Backend, Identity, PASSWORD, authed, unique_email};
use tonic::Code;

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a JWT");
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json");
    json["kid"].as_str().expect("a kid").to_owned()
}

async fn get_me(identity: &Identity, token: &str) -> Result<proto::User, tonic::Status> {
    identity
        .client
        .clone()
        .get_me(authed(proto::GetMeRequest {}, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn a_reused_refresh_token_revokes_its_family(backend: Backend) {
    let identity = Identity::start(backend).await;
    let mut client = identity.client.clone();
    let person = identity.resident("stolen-").await;
    let first = person.refresh.clone();
    let second = client
        .refresh(proto::RefreshRequest {
            refresh_token: first.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    // An attacker replays the token the owner already used...
    let replay = client
        .refresh(proto::RefreshRequest {
            refresh_token: first,
        })
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated);
    // ...and the owner's current token dies with it: the family is revoked.
    let owner = client
        .refresh(proto::RefreshRequest {
            refresh_token: second.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(owner.code(), Code::Unauthenticated);
    // Another session of the same person (another device) is untouched.
    let other_device = identity.login(&person.email).await;
    client
        .refresh(proto::RefreshRequest {
            refresh_token: other_device.refresh_token,
        })
        .await
        .expect("a separate family still refreshes");
    identity.stop().await;
}

async fn a_rotated_key_verifies_until_its_tokens_expired(backend: Backend) {
    let identity = Identity::start(backend).await;
    let admin = identity.first_admin().await;
    let resident = identity.resident("rotation-").await;
    let old_kid = kid_of(&resident.access);

    let rotated = identity
        .client
        .clone()
        .rotate_signing_key(authed(proto::RotateSigningKeyRequest {}, &admin.access))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.kid, old_kid);
    // New tokens use the new key; old tokens still verify.
    let fresh = identity.login(&resident.email).await;
    assert_eq!(kid_of(&fresh.access_token), rotated.kid);
    get_me(&identity, &resident.access)
        .await
        .expect("the old key still verifies");
    get_me(&identity, &fresh.access_token)
        .await
        .expect("the new key verifies");
    let jwks = identity
        .keys
        .clone()
        .get_jwks(proto::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&rotated.kid.as_str()),
        "{kids:?}"
    );

    // Once every token of the old key has expired, the key is no longer served.
    identity
        .clock
        .advance(chrono::Duration::minutes(20))
        .unwrap();
    let jwks = identity
        .keys
        .clone()
        .get_jwks(proto::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, [rotated.kid.as_str()]);
    identity.stop().await;
}

async fn forged_tokens_are_refused(backend: Backend) {
    let identity = Identity::start(backend).await;
    let person = identity.resident("forged-").await;
    let genuine = person.access.clone();
    get_me(&identity, &genuine)
        .await
        .expect("the genuine token works");

    let parts: Vec<&str> = genuine.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let encode =
        |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());

    let mut none_header = header.clone();
    none_header["alg"] = "none".into();
    let alg_none = format!("{}.{}.", encode(&none_header), parts[1]);

    let jwks = identity
        .keys
        .clone()
        .get_jwks(proto::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    let public_x = jwks.keys[0].x.clone();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.typ = Some("at+jwt".to_owned());
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()).unwrap(),
    )
    .unwrap();

    let mut elevated = claims.clone();
    elevated["roles"] = serde_json::json!(["platform_admin"]);
    let tampered = format!("{}.{}.{}", parts[0], encode(&elevated), parts[2]);

    let mut other_user = claims.clone();
    other_user["sub"] = uuid::Uuid::now_v7().to_string().into();
    let swapped_subject = format!("{}.{}.{}", parts[0], encode(&other_user), parts[2]);

    let mut jwt_typ = header.clone();
    jwt_typ["typ"] = "JWT".into();
    let wrong_typ = format!("{}.{}.{}", encode(&jwt_typ), parts[1], parts[2]);

    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = "no-such-key".into();
    let wrong_kid = format!("{}.{}.{}", encode(&unknown_kid), parts[1], parts[2]);

    let cases = [
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("elevated roles", tampered),
        ("another subject", swapped_subject),
        ("typ JWT", wrong_typ),
        ("unknown kid", wrong_kid),
        ("truncated", parts[..2].join(".")),
        ("garbage", "garbage".to_owned()),
    ];
    for (name, token) in &cases {
        let status = get_me(&identity, token).await.expect_err(name);
        assert_eq!(status.code(), Code::Unauthenticated, "{name}: {status:?}");
    }
    // And the genuine one, once expired.
    identity
        .clock
        .advance(chrono::Duration::minutes(16))
        .unwrap();
    let expired = get_me(&identity, &genuine).await.unwrap_err();
    assert_eq!(expired.code(), Code::Unauthenticated, "expired");
    println!("{} forged or expired tokens refused", cases.len() + 1);
    identity.stop().await;
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// An unknown address and a known one with a wrong password: the same status
/// and message, in the same time.
async fn logins_do_not_reveal_who_is_registered(backend: Backend) {
    let identity = Identity::start(backend).await;
    let mut client = identity.client.clone();
    let known = identity.resident("known-").await;
    let unknown = unique_email("unknown-");
    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    for round in 0..50 {
        // Alternate, so that drift in the machine's load hits both alike.
        let order = if round % 2 == 0 {
            [&known.email, &unknown]
        } else {
            [&unknown, &known.email]
        };
        for email in order {
            let started = Instant::now();
            let status = client
                .login(proto::LoginRequest {
                    email: email.clone(),
                    password: "not the password".to_owned(),
                })
                .await
                .unwrap_err();
            let took = started.elapsed();
            assert_eq!(status.code(), Code::Unauthenticated);
            assert_eq!(status.message(), "wrong e-mail address or password");
            if email == &known.email {
                known_times.push(took);
            } else {
                unknown_times.push(took);
            }
        }
    }
    let (known_median, unknown_median) = (median(known_times), median(unknown_times));
    let ratio = known_median.as_secs_f64() / unknown_median.as_secs_f64();
    println!(
        "{backend:?}: median login failure, known address {known_median:?}, unknown {unknown_median:?}, ratio {ratio:.3}"
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "medians differ by more than 10%: {ratio:.3}"
    );
    identity.stop().await;
}

/// 200 guesses within an hour: 100 are checked, the rest refused unchecked,
/// even the right password; an hour later the account opens again.
async fn password_guessing_is_capped_per_account(backend: Backend) {
    let identity = Identity::start(backend).await;
    let mut client = identity.client.clone();
    let victim = identity.resident("victim-").await;
    let (mut checked, mut refused) = (0, 0);
    for guess in 0..200 {
        let status = client
            .login(proto::LoginRequest {
                email: victim.email.clone(),
                password: format!("guess {guess}"),
            })
            .await
            .unwrap_err();
        match status.code() {
            Code::Unauthenticated => checked += 1,
            Code::ResourceExhausted => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    println!("{backend:?}: 200 guesses: {checked} checked, {refused} refused unchecked");
    assert_eq!(checked, 100);
    assert_eq!(refused, 100);
    let right = client
        .login(proto::LoginRequest {
            email: victim.email.clone(),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        right.code(),
        Code::ResourceExhausted,
        "locked even for the right password"
    );
    identity
        .clock
        .advance(chrono::Duration::minutes(61))
        .unwrap();
    identity.login(&victim.email).await;
    identity.stop().await;
}

async fn password_guessing_is_capped_per_client(backend: Backend) {
    let mut settings = inspraak_identity::IdentitySettings::defaults();
    settings.login_failures_per_client = 10;
    let identity = Identity::start_with(backend, settings).await;
    let mut client = identity.client.clone();
    // Ten different accounts from one address use up the address's allowance...
    for _ in 0..10 {
        let status = client
            .login(proto::LoginRequest {
                email: unique_email("spray-"),
                password: "guess".to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    // ...so the eleventh attempt is refused before any password is checked.
    let status = client
        .login(proto::LoginRequest {
            email: unique_email("spray-"),
            password: "guess".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    identity.stop().await;
}

inspraak_host::on_both_databases!(
    a_reused_refresh_token_revokes_its_family,
    a_rotated_key_verifies_until_its_tokens_expired,
    forged_tokens_are_refused,
    password_guessing_is_capped_per_account,
    password_guessing_is_capped_per_client,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_do_not_reveal_who_is_registered_on_postgres() {
    logins_do_not_reveal_who_is_registered(Backend::Postgres).await;
}
