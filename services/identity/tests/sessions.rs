//! Registration, confirmation, sign-in, refresh, sign-out and passwords.

mod support;

use inspraak_proto::identity::v1 as proto;
use support::{Backend, Identity, PASSWORD, authed, unique_email};
use tonic::Code;

async fn register_confirm_login_refresh_logout(backend: Backend) {
    let identity = Identity::start(backend).await;
    let mut client = identity.client.clone();
    let email = unique_email("ann-");
    let registered = client
        .register(proto::RegisterRequest {
            email: email.to_uppercase(),
            password: PASSWORD.to_owned(),
            display_name: "Ann".to_owned(),
            locale: "nl-be".to_owned(),
            fields: Default::default(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(registered.confirmation_sent);
    let user = registered.user.unwrap();
    assert_eq!(user.email, email, "stored lower-cased");
    assert_eq!(user.locale, "nl-BE");
    assert!(!user.email_confirmed);
    identity
        .event("identity.user.registered.v1", &user.id)
        .await;

    // The same address again.
    let again = client
        .register(proto::RegisterRequest {
            email: email.clone(),
            password: PASSWORD.to_owned(),
            display_name: "Ann".to_owned(),
            locale: "nl".to_owned(),
            fields: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // A wrong code, then the right one.
    let wrong = client
        .confirm_email(proto::ConfirmEmailRequest {
            email: email.clone(),
            code: "00000000".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    let code = identity.confirmation_code(&user.id).await;
    client
        .confirm_email(proto::ConfirmEmailRequest {
            email: email.clone(),
            code: code.clone(),
        })
        .await
        .unwrap();
    identity.event("identity.user.confirmed.v1", &user.id).await;
    // A code works once.
    let reused = client
        .confirm_email(proto::ConfirmEmailRequest {
            email: email.clone(),
            code,
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);

    let session = identity.login(&email).await;
    let claims = payload(&session.access_token);
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["email_verified"], true, "{claims}");
    assert_eq!(
        claims["typ"],
        serde_json::Value::Null,
        "typ belongs in the header"
    );
    let me = client
        .get_me(authed(proto::GetMeRequest {}, &session.access_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.id, user.id);
    assert!(me.email_confirmed);

    let refreshed = client
        .refresh(proto::RefreshRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(refreshed.refresh_token, session.refresh_token);
    client
        .get_me(authed(proto::GetMeRequest {}, &refreshed.access_token))
        .await
        .unwrap();

    client
        .logout(proto::LogoutRequest {
            refresh_token: refreshed.refresh_token.clone(),
        })
        .await
        .unwrap();
    let after_logout = client
        .refresh(proto::RefreshRequest {
            refresh_token: refreshed.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(after_logout.code(), Code::Unauthenticated);
    identity.stop().await;
}

/// The claims of a token (not verified: the server did that).
fn payload(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

async fn unconfirmed_accounts_sign_in_unverified(backend: Backend) {
    let identity = Identity::start(backend).await;
    let email = unique_email("unconfirmed-");
    identity.register(&email).await;
    let session = identity.login(&email).await;
    assert_eq!(payload(&session.access_token)["email_verified"], false);
    identity.stop().await;
}

async fn registration_reports_every_bad_field(backend: Backend) {
    let identity = Identity::start(backend).await;
    let error = identity
        .client
        .clone()
        .register(proto::RegisterRequest {
            email: "not-an-address".to_owned(),
            password: "short".to_owned(),
            display_name: " ".to_owned(),
            locale: "dutch".to_owned(),
            fields: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    use tonic_types::StatusExt;
    let mut fields: Vec<String> = error
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    assert_eq!(fields, ["display_name", "email", "locale", "password"]);
    // Nothing was created.
    assert!(identity.events().await.is_empty());
    identity.stop().await;
}

async fn passwords_change_and_reset(backend: Backend) {
    let identity = Identity::start(backend).await;
    let mut client = identity.client.clone();
    let person = identity.resident("bert-").await;

    let wrong = client
        .change_password(authed(
            proto::ChangePasswordRequest {
                current_password: "not the password".to_owned(),
                new_password: "another long passphrase".to_owned(),
            },
            &person.access,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    client
        .change_password(authed(
            proto::ChangePasswordRequest {
                current_password: PASSWORD.to_owned(),
                new_password: "another long passphrase".to_owned(),
            },
            &person.access,
        ))
        .await
        .unwrap();
    // Every session ended.
    let old = client
        .refresh(proto::RefreshRequest {
            refresh_token: person.refresh.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
    let old_password = client
        .login(proto::LoginRequest {
            email: person.email.clone(),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(old_password.code(), Code::Unauthenticated);

    // Forgotten: a reset code by "e-mail", then a new password.
    client
        .request_password_reset(proto::RequestPasswordResetRequest {
            email: person.email.clone(),
        })
        .await
        .unwrap();
    let code = identity.reset_code(&person.id).await;
    let bad = client
        .reset_password(proto::ResetPasswordRequest {
            email: person.email.clone(),
            code: code.clone(),
            new_password: "short".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    client
        .reset_password(proto::ResetPasswordRequest {
            email: person.email.clone(),
            code,
            new_password: PASSWORD.to_owned(),
        })
        .await
        .unwrap();
    identity.login(&person.email).await;

    // An unknown address gets the same answer and no code.
    let before = identity.events().await.len();
    client
        .request_password_reset(proto::RequestPasswordResetRequest {
            email: unique_email("nobody-"),
        })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(identity.events().await.len(), before);
    let unknown = client
        .reset_password(proto::ResetPasswordRequest {
            email: unique_email("nobody-"),
            code: "12345678".to_owned(),
            new_password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    identity.stop().await;
}

async fn a_code_dies_after_five_wrong_guesses(backend: Backend) {
    let identity = Identity::start(backend).await;
    let mut client = identity.client.clone();
    let email = unique_email("guess-");
    let user = identity.register(&email).await;
    let code = identity.confirmation_code(&user.id).await;
    for _ in 0..5 {
        let wrong = if code == "11111111" {
            "22222222"
        } else {
            "11111111"
        };
        client
            .confirm_email(proto::ConfirmEmailRequest {
                email: email.clone(),
                code: wrong.to_owned(),
            })
            .await
            .unwrap_err();
    }
    let late = client
        .confirm_email(proto::ConfirmEmailRequest {
            email: email.clone(),
            code,
        })
        .await
        .unwrap_err();
    assert_eq!(
        late.code(),
        Code::InvalidArgument,
        "the right code after five wrong guesses"
    );
    identity.stop().await;
}

async fn service_tokens_need_client_credentials(backend: Backend) {
    let mut settings = inspraak_identity::IdentitySettings::defaults();
    let secret = "s".repeat(40);
    settings.service_clients = vec![(
        "notifications".to_owned(),
        secrecy::SecretString::from(secret.clone()),
    )];
    let identity = Identity::start_with(backend, settings).await;
    let mut client = identity.client.clone();
    let token = client
        .issue_service_token(proto::IssueServiceTokenRequest {
            client_id: "notifications".to_owned(),
            client_secret: secret,
        })
        .await
        .unwrap()
        .into_inner();
    let someone = identity.resident("looked-up-").await;
    // A service may look people up.
    let found = client
        .get_user(authed(
            proto::GetUserRequest {
                id: someone.id.clone(),
            },
            &token.access_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.email, someone.email);
    let wrong = client
        .issue_service_token(proto::IssueServiceTokenRequest {
            client_id: "notifications".to_owned(),
            client_secret: "x".repeat(40),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    identity.stop().await;
}

/// BOOTSTRAP_ADMIN_EMAIL at first start: the first admin, a setup code
/// published for notifications to e-mail, no password until it is used.
async fn the_first_admin_is_bootstrapped_at_start(backend: Backend) {
    let email = unique_email("first-");
    let mut settings = inspraak_identity::IdentitySettings::defaults();
    settings.bootstrap_admin =
        Some(inspraak_identity::domain::Email::parse("email", &email).unwrap());
    let identity = Identity::start_with(backend, settings).await;
    let mut client = identity.client.clone();
    let granted = loop {
        let found = identity
            .events()
            .await
            .into_iter()
            .find(|e| e.r#type == "identity.role.granted.v1");
        if let Some(event) = found {
            break event;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let admin_id = granted.aggregate_id.clone();
    // The other services learn of the new person before of their role.
    let registered = identity
        .event("identity.user.registered.v1", &admin_id)
        .await;
    let registered: inspraak_proto::events::v1::UserRegistered =
        inspraak_bus::decode_payload(&registered).unwrap();
    assert_eq!(registered.email, email);
    let order: Vec<String> = identity
        .events()
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == admin_id)
        .map(|e| e.r#type)
        .collect();
    assert_eq!(
        order[..2],
        ["identity.user.registered.v1", "identity.role.granted.v1"]
    );
    // No password works before the setup code is used: there is none.
    for password in ["", PASSWORD, "admin", "password"] {
        let status = client
            .login(proto::LoginRequest {
                email: email.clone(),
                password: password.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{password:?}");
    }
    let code = identity.reset_code(&admin_id).await;
    client
        .reset_password(proto::ResetPasswordRequest {
            email: email.clone(),
            code,
            new_password: PASSWORD.to_owned(),
        })
        .await
        .unwrap();
    let session = identity.login(&email).await;
    assert_eq!(
        payload(&session.access_token)["roles"],
        serde_json::json!(["platform_admin"])
    );
    identity.stop().await;
}

inspraak_host::on_both_databases!(
    the_first_admin_is_bootstrapped_at_start,
    register_confirm_login_refresh_logout,
    unconfirmed_accounts_sign_in_unverified,
    registration_reports_every_bad_field,
    passwords_change_and_reset,
    a_code_dies_after_five_wrong_guesses,
    service_tokens_need_client_credentials,
);
