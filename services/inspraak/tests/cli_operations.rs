//! Dead letters (list, inspect, replay), settings and registration policy
//! from a file with a diff first, errors with field violations; and what
//! needs no platform: completions and help.

mod support;

use std::path::Path;
use std::process::Command;

use inspraak_bus::broker::{EmbeddedBroker, Outgoing, QueueSpec, Target};
use inspraak_bus::dead_letter::{DeadLetterInfo, mark};
use inspraak_proto::events::v1::Envelope;
use prost::Message;
use serde_json::Value;
use support::{Platform, stderr, text};

const EVENT_ID: &str = "01890000-0000-7000-8000-0000000000aa";
/// Dead letters planted: more than one replay batch (500) holds.
const DEAD_LETTERS: usize = 1500;

/// Leaves dead letters in notifications' dead-letter queue, as a handler
/// that gave up would: events of a type notifications does not know, so
/// that replaying them is handled (ignored) at once.
fn plant_dead_letter(data: &Path) {
    let url = format!("sqlite://{}?mode=rwc", data.join("bus.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let broker = EmbeddedBroker::open(&url).await.expect("the bus store");
        broker
            .declare_queue(&QueueSpec {
                name: "notifications.notify".into(),
                bindings: Vec::new(),
                kind: Default::default(),
                dead_letter_queue: "notifications.dlq".into(),
                delivery_limit: 20,
            })
            .await
            .expect("declare");
        // The one the test inspects first, then enough to need several
        // replay batches.
        let letters: Vec<Outgoing> = std::iter::once(EVENT_ID.to_owned())
            .chain((1..DEAD_LETTERS).map(|i| format!("01890000-0000-7000-8001-{i:012}")))
            .map(|event_id| {
                let envelope = Envelope {
                    event_id: event_id.clone(),
                    r#type: "testing.thing.happened.v1".into(),
                    producer: "testing".into(),
                    aggregate_type: "thing".into(),
                    aggregate_id: "42".into(),
                    aggregate_version: 3,
                    ..Envelope::default()
                };
                let mut headers = Default::default();
                mark(
                    &mut headers,
                    &DeadLetterInfo {
                        queue: "notifications.notify".into(),
                        error: "the handler failed: recipient projection missing".into(),
                        attempts: 5,
                        at: chrono::Utc::now(),
                    },
                );
                Outgoing {
                    target: Target::Queue("notifications.dlq".into()),
                    routing_key: envelope.r#type.clone(),
                    message_id: event_id,
                    headers,
                    body: envelope.encode_to_vec(),
                }
            })
            .collect();
        broker.publish_confirmed(&letters).await.expect("publish");
    });
}

#[test]
fn dead_letters_are_listed_inspected_and_replayed_and_failed_mail_sent_again() {
    // Mail goes to a relay that is not there, and fails for good at once.
    let platform = Platform::start_configured(
        plant_dead_letter,
        &[
            ("NOTIFICATIONS_SMTP_HOST", "127.0.0.1"),
            ("NOTIFICATIONS_SMTP_PORT", "9"),
            ("NOTIFICATIONS_SMTP_TLS", "none"),
            ("NOTIFICATIONS_SMTP_TIMEOUT", "2s"),
            ("NOTIFICATIONS_MAIL_MAX_ATTEMPTS", "1"),
            ("NOTIFICATIONS_MAIL_POLL_INTERVAL", "100ms"),
        ],
    );
    platform.sign_in_admin();

    // The first admin's setup code was mailed; the relay refused it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let failed = loop {
        let failed = platform.json(&["deliveries", "failed"]);
        if !failed.as_array().unwrap().is_empty() {
            break failed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed delivery shows"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let delivery = &failed[0];
    assert_eq!(delivery["state"], "failed");
    assert!(
        !delivery["last_error"].as_str().unwrap().is_empty(),
        "{failed}"
    );
    let table = platform.ok(&["deliveries", "failed"]);
    assert!(table.starts_with("CREATED"), "{table}");
    let id = delivery["id"].as_str().unwrap();
    let retried = platform.json(&["deliveries", "retry", id]);
    assert_eq!(retried["id"], id);
    assert_ne!(retried["state"], "failed", "{retried}");
    // Retrying one that did not fail is refused with a reason.
    let sent_or_pending = platform.cli(&["deliveries", "retry", id]);
    if !sent_or_pending.status.success() {
        assert_eq!(
            sent_or_pending.status.code(),
            Some(6),
            "{}",
            text(&sent_or_pending)
        );
    }

    let listed = platform.json(&["dead-letters", "list"]);
    let letters = listed.as_array().unwrap();
    assert_eq!(letters.len(), 100, "at most --limit per service");
    assert_eq!(letters[0]["service"], "notifications");
    assert_eq!(letters[0]["event_id"], EVENT_ID);
    assert_eq!(letters[0]["event_type"], "testing.thing.happened.v1");
    assert_eq!(letters[0]["attempts"], 5);
    let table = platform.ok(&["dead-letters", "list"]);
    assert!(table.contains("recipient projection missing"), "{table}");
    if !table.contains("dead letters: projects 0, contributions 0, notifications 1500") {
        // More than were planted: show the platform's own.
        let all = platform.json(&["dead-letters", "list", "--limit", "1000"]);
        let own: Vec<_> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|letter| letter["event_type"] != "testing.thing.happened.v1")
            .collect();
        panic!("dead letters beyond the 1500 planted: {own:#?}\n{table}");
    }

    let inspected = platform.ok(&["dead-letters", "inspect", "notifications", EVENT_ID]);
    assert!(inspected.contains("thing 42 (version 3)"), "{inspected}");
    assert!(inspected.contains("notifications.notify"), "{inspected}");

    // A value the service refuses: the field and why, in plain words.
    let out = platform.cli(&["dead-letters", "list", "notifications", "--limit", "5000"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stderr(&out).contains("invalid values")
            && stderr(&out).contains("\n  - page_size: must be between 0 and 1000"),
        "{}",
        text(&out)
    );

    // Replaying an event that is not there says so and exits non-zero.
    let out = platform.cli(&[
        "dead-letters",
        "replay",
        "notifications",
        "--event",
        "01890000-0000-7000-8000-0000000000bb",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));

    // One by its id...
    let replayed = platform.json(&[
        "dead-letters",
        "replay",
        "notifications",
        "--event",
        EVENT_ID,
    ]);
    assert_eq!(replayed["replayed"], serde_json::json!([EVENT_ID]));
    // ...then all the others, in batches, with progress (plain lines at
    // every tenth when stderr is not a terminal).
    let out = platform.cli(&["dead-letters", "replay", "notifications", "--all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("replayed 1499 dead letters of notifications"),
        "{}",
        text(&out)
    );
    let progress = stderr(&out);
    assert!(
        progress.contains("replaying notifications's dead letters: 500/1499")
            && progress.contains("replaying notifications's dead letters: 1499/1499"),
        "{progress}"
    );
    // Handled this time (an unknown event type is acknowledged): the queue
    // stays empty.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        platform.json(&["dead-letters", "list", "notifications"]),
        Value::Array(vec![])
    );
}

#[test]
fn settings_and_registration_change_from_a_file_after_a_diff() {
    let platform = Platform::start();
    platform.sign_in_admin();

    let current = platform.ok(&["settings", "show"]);
    assert!(current.contains("max_active_projects: 5"), "{current}");
    let file = platform.dir.join("settings.yaml");
    std::fs::write(
        &file,
        current
            .replace("max_active_projects: 5", "max_active_projects: 7")
            .replace("report_cadence: weekly", "report_cadence: monthly"),
    )
    .unwrap();
    let path = file.to_str().unwrap();

    // A dry run shows the diff and changes nothing.
    let out = platform.cli(&["settings", "apply", "-f", path, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let diff = stderr(&out);
    assert!(
        diff.contains("- max_active_projects: 5") && diff.contains("+ max_active_projects: 7"),
        "{diff}"
    );
    assert!(diff.contains("+   report_cadence: monthly"), "{diff}");
    assert!(
        platform
            .ok(&["settings", "show"])
            .contains("max_active_projects: 5")
    );
    // Without a terminal to ask on, nothing is applied without --yes.
    let out = platform.cli(&["settings", "apply", "-f", path]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("give --yes"), "{}", text(&out));

    let applied = platform.json(&["settings", "apply", "-f", path, "--yes"]);
    assert_eq!(applied["changed"], true);
    let now = platform.json(&["settings", "show"]);
    assert_eq!(now["max_active_projects"], 7);
    assert_eq!(now["charter"]["report_cadence"], "monthly");
    // Applying it again changes nothing.
    assert_eq!(
        platform.json(&["settings", "apply", "-f", path, "--yes"])["changed"],
        false
    );

    // The registration policy, from JSON this time; a bad value is refused
    // by the service with its field named.
    let mut policy = platform.json(&["registration", "show"]);
    assert_eq!(policy["confirmation_required"], true);
    policy["staff_email_domains"] = serde_json::json!(["city.example"]);
    policy["min_password_length"] = 4.into();
    let file = platform.dir.join("registration.json");
    std::fs::write(&file, serde_json::to_vec(&policy).unwrap()).unwrap();
    let out = platform.cli(&[
        "registration",
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stderr(&out).contains("min_password_length"),
        "{}",
        text(&out)
    );
    policy["min_password_length"] = 12.into();
    std::fs::write(&file, serde_json::to_vec(&policy).unwrap()).unwrap();
    let applied = platform.json(&[
        "registration",
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(applied["changed"], true);
    assert!(
        applied["diff"]
            .as_str()
            .unwrap()
            .contains("+ - city.example"),
        "{applied}"
    );
    let now = platform.json(&["registration", "show"]);
    assert_eq!(
        now["staff_email_domains"],
        serde_json::json!(["city.example"])
    );
    assert_eq!(now["min_password_length"], 12);
}

fn inspraak(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inspraak"))
        .args(args)
        .output()
        .expect("run inspraak")
}

#[test]
fn completions_and_help_with_examples_for_every_subcommand() {
    let bash = inspraak(&["completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("complete -F _inspraak"), "{bash}");
    assert!(bash.contains("dead-letters"), "subcommands are completed");
    let zsh = inspraak(&["completions", "zsh"]);
    assert!(zsh.status.success());
    assert!(String::from_utf8_lossy(&zsh.stdout).starts_with("#compdef inspraak"));

    // Every subcommand, at every level, has help with an example.
    let mut pending: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = inspraak(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        let children = subcommands(&help);
        if children.is_empty() {
            assert!(
                help.contains("Example:") || help.contains("Examples:"),
                "`inspraak {}` has no example:\n{help}",
                path.join(" ")
            );
            seen += 1;
        }
        for child in children {
            let mut next = path.clone();
            next.push(child);
            pending.push(next);
        }
    }
    assert!(seen >= 35, "only {seen} subcommands");

    // A mistyped command line is exit code 2, as before.
    assert_eq!(inspraak(&["nonsense"]).status.code(), Some(2));
    assert_eq!(inspraak(&["serve", "nowhere"]).status.code(), Some(2));
}

/// The subcommand names listed under "Commands:" in a help text.
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|line| line.starts_with("  "))
        // Continuation lines of a long description are indented further.
        .filter(|line| !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help" && !name.starts_with('-'))
        .map(str::to_owned)
        .collect()
}
