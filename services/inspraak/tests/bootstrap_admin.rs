//! `inspraak identity bootstrap-admin`: the first admin once, never twice,
//! and never a default password.

use std::process::Command;

fn bootstrap(dir: &std::path::Path, email: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inspraak"))
        .args(["identity", "bootstrap-admin", "--email", email])
        .env(
            "IDENTITY_DATABASE_URL",
            format!("sqlite://{}/identity.db?mode=rwc", dir.display()),
        )
        .env(
            "BUS_URL",
            format!("sqlite://{}/bus.db?mode=rwc", dir.display()),
        )
        .output()
        .expect("run inspraak")
}

#[test]
fn the_first_admin_is_created_once_with_a_setup_code() {
    let dir = std::env::temp_dir().join(inspraak_kit::testing::unique("inspraak-bootstrap-"));
    std::fs::create_dir_all(&dir).unwrap();

    let first = bootstrap(&dir, "First.Admin@Gent.be");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("first.admin@gent.be"), "{stdout}");
    let code = stdout
        .lines()
        .find_map(|line| line.strip_prefix("one-time password setup code (valid 72 hours): "))
        .expect("a setup code is printed");
    assert_eq!(code.len(), 8);
    assert!(code.chars().all(|c| c.is_ascii_digit()));

    let second = bootstrap(&dir, "someone.else@gent.be");
    assert!(
        !second.status.success(),
        "a second bootstrap must not create another admin"
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("has an admin already"));

    let bad = bootstrap(&dir, "not an address");
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
