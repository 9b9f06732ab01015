//! `inspraak login`, transparent refresh and `logout` against `inspraak all`.

mod support;

use support::{ADMIN, ADMIN_PASSWORD, Platform, stderr, text};

const CLIENT_SECRET: &str = "a-service-secret-of-at-least-32-characters";

#[test]
fn login_keeps_a_private_session_that_refreshes_itself_until_logout() {
    let platform = Platform::start_configured(
        |_| {},
        &[(
            "IDENTITY_SERVICE_CLIENTS",
            "case-management=a-service-secret-of-at-least-32-characters",
        )],
    );

    // Not signed in yet: a clear message and exit code 3.
    let out = platform.cli(&["whoami"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("not signed in"), "{}", text(&out));

    platform.sign_in_admin();
    let session_file = platform.session_file();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&session_file)
            .expect("the session is kept")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner may read the session");
    }

    let me = platform.json(&["whoami"]);
    assert_eq!(me["email"], ADMIN);
    assert!(
        me["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.starts_with("platform_admin"))),
        "{me}"
    );

    // An access token about to expire is replaced through the refresh token
    // without the operator noticing; the used refresh token is replaced too.
    let mut session: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session_file).unwrap()).unwrap();
    let old_refresh = session["refresh_token"].clone();
    let old_access = session["access_token"].clone();
    session["access_expires_at"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(&session_file, serde_json::to_vec(&session).unwrap()).unwrap();
    let me = platform.json(&["whoami"]);
    assert_eq!(me["email"], ADMIN);
    let renewed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session_file).unwrap()).unwrap();
    assert_ne!(renewed["refresh_token"], old_refresh, "rotated");
    assert_ne!(renewed["access_token"], old_access, "a new access token");

    // A refused token (here: one that is not a token at all) is renewed once
    // and the call retried.
    let mut broken = renewed.clone();
    broken["access_token"] = "not-a-token".into();
    std::fs::write(&session_file, serde_json::to_vec(&broken).unwrap()).unwrap();
    assert_eq!(platform.json(&["whoami"])["email"], ADMIN);

    // Logout revokes the session: its refresh token no longer works, and
    // the file is gone.
    let session_before_logout = std::fs::read(&session_file).unwrap();
    let out = platform.cli(&["logout"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!session_file.exists());
    // Put the revoked session back and force a refresh: refused.
    let mut revoked: serde_json::Value = serde_json::from_slice(&session_before_logout).unwrap();
    revoked["access_expires_at"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(&session_file, serde_json::to_vec(&revoked).unwrap()).unwrap();
    let out = platform.cli(&["whoami"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("run `inspraak login`"),
        "{}",
        text(&out)
    );

    // A wrong password says so, and leaves no session behind.
    std::fs::remove_file(&session_file).unwrap();
    let out = platform.cli_with_input(
        &["login", "--email", ADMIN, "--password-stdin"],
        "wrong-password-entirely\n",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("wrong e-mail address or password"),
        "{}",
        text(&out)
    );
    assert!(!session_file.exists());
    platform.sign_in(ADMIN, ADMIN_PASSWORD);
    assert!(session_file.exists());

    // A city system signs in with client credentials; its token is asked
    // for again with the secret from the environment once it expires.
    let out = platform
        .command(&["login", "--client-id", "case-management"])
        .env("INSPRAAK_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(platform.json(&["whoami"])["service"], "case-management");
    // Services may read dead letters.
    assert_eq!(
        platform.json(&["dead-letters", "list"]),
        serde_json::Value::Array(vec![])
    );
    let mut service: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session_file).unwrap()).unwrap();
    assert!(service.get("refresh_token").is_none(), "{service}");
    service["access_expires_at"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(&session_file, serde_json::to_vec(&service).unwrap()).unwrap();
    let out = platform.cli(&["dead-letters", "list"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("INSPRAAK_CLIENT_SECRET"),
        "{}",
        text(&out)
    );
    let out = platform
        .command(&["dead-letters", "list", "-o", "json"])
        .env("INSPRAAK_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let renewed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session_file).unwrap()).unwrap();
    assert_ne!(renewed["access_token"], service["access_token"]);
    let out = platform
        .command(&["login", "--client-id", "case-management"])
        .env(
            "INSPRAAK_CLIENT_SECRET",
            "not-the-secret-of-case-management-at-all",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn contexts_name_platforms_and_flags_win_over_them() {
    let platform = Platform::start();
    // A context that points nowhere useful...
    let out = platform
        .command(&[
            "context",
            "set",
            "staging",
            "--identity-url",
            "http://127.0.0.1:9",
        ])
        .env_remove("INSPRAAK_PROJECTS_URL")
        .env_remove("INSPRAAK_CONTRIBUTIONS_URL")
        .env_remove("INSPRAAK_NOTIFICATIONS_URL")
        .env_remove("INSPRAAK_IDENTITY_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let listed = platform.json(&["context", "list"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "staging"]);
    assert_eq!(
        listed[1]["current"], true,
        "the first context set is current"
    );

    // ...is used unless a flag or variable says otherwise: health fails
    // for identity there (exit 7) and names it.
    let out = platform
        .command(&["health", "--context", "staging"])
        .env_remove("INSPRAAK_IDENTITY_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        stderr(&out).contains("not ready: identity"),
        "{}",
        text(&out)
    );
    // The environment's URL wins over the context's.
    let health = platform.json(&["health", "--context", "staging"]);
    assert_eq!(health.as_array().unwrap().len(), 4);
    assert!(
        health
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ready"] == "serving"),
        "{health}"
    );
    let out = platform.cli(&["health", "--context", "nowhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    platform.ok(&["context", "use", "local"]);
    platform.ok(&["context", "delete", "staging"]);
    let listed = platform.json(&["context", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["current"], true);

    // TLS: a CA file that is not there is a usage error; a service that
    // does not speak TLS is not ready, and the table says why.
    let out = platform.cli(&["health", "--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("CA file /nonexistent/ca.pem"),
        "{}",
        text(&out)
    );
    let plain = &platform
        .urls
        .iter()
        .find(|(s, _)| s == "identity")
        .unwrap()
        .1;
    let tls = plain.replace("http://", "https://");
    let out = platform.cli(&["health", "--identity-url", &tls, "-o", "json"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health[0]["service"], "identity");
    assert_eq!(health[0]["ready"], "down", "{health}");
    assert_eq!(health[1]["ready"], "serving", "{health}");
}
