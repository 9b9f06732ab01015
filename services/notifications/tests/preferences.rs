//! Preferences govern e-mail: off sends none (the inbox still has it),
//! daily and weekly gather the period's items into one mail at 07:00 in
//! Brussels, an empty period sends nothing; defaults follow the role; bad
//! updates are refused field by field and change nothing.

mod support;

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{Duration, Weekday};
use inspraak_notifications::store::entities::preferences;
use inspraak_proto::notifications::v1 as proto;
use proto::{Category as C, Frequency as F};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use support::{Backend, Platform, Who, next_local, refused, to};
use tonic::Code;
use tonic_types::StatusExt;

fn choose(choices: &[(C, F)]) -> proto::UpdatePreferencesRequest {
    proto::UpdatePreferencesRequest {
        preferences: choices
            .iter()
            .map(|(c, f)| proto::Preference {
                category: *c as i32,
                frequency: *f as i32,
            })
            .collect(),
    }
}

async fn set(platform: &Platform, who: &Who, choices: &[(C, F)]) -> BTreeMap<i32, i32> {
    let answer = platform
        .client()
        .update_preferences(platform.by(choose(choices), Some(who)))
        .await
        .expect("the preferences change")
        .into_inner();
    let map = as_map(&answer);
    for (c, f) in choices {
        assert_eq!(map.get(&(*c as i32)), Some(&(*f as i32)), "{c:?}");
    }
    map
}

fn as_map(preferences: &proto::Preferences) -> BTreeMap<i32, i32> {
    preferences
        .preferences
        .iter()
        .map(|p| (p.category, p.frequency))
        .collect()
}

async fn get(platform: &Platform, who: &Who) -> BTreeMap<i32, i32> {
    as_map(
        &platform
            .client()
            .get_preferences(platform.by(proto::GetPreferencesRequest {}, Some(who)))
            .await
            .expect("the preferences")
            .into_inner(),
    )
}

fn expected(choices: &[(C, F)]) -> BTreeMap<i32, i32> {
    choices
        .iter()
        .map(|(c, f)| (*c as i32, *f as i32))
        .collect()
}

/// Where `needle` first appears in `text`; fails when absent.
fn at(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in:\n{text}"))
}

async fn off_sends_no_mail_but_the_inbox_still_has_it(backend: Backend) {
    let platform = Platform::start(backend).await;
    let alice = platform.person("en", &[]).await;
    let project = platform.project("Harbour Walk", None).await;
    set(&platform, &alice, &[(C::Comments, F::Off)]).await;

    platform
        .comment(
            &alice,
            &project,
            &uuid::Uuid::now_v7().to_string(),
            "Benches",
        )
        .await;
    platform
        .feedback(&alice, &project, &uuid::Uuid::now_v7().to_string(), "Trees")
        .await;
    let mails = platform.mails(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        to(&mails, &alice)
            .iter()
            .map(|m| m.subject())
            .collect::<Vec<_>>(),
        ["An answer to your input \"Trees\""]
    );
    let deliveries = platform.deliveries_of(&alice).await;
    assert_eq!(
        deliveries
            .iter()
            .map(|d| d.kind.as_str())
            .collect::<Vec<_>>(),
        ["feedback_on_your_input"],
        "no delivery at all for the comment"
    );
    let inbox = platform
        .client()
        .list_notifications(platform.by(proto::ListNotificationsRequest::default(), Some(&alice)))
        .await
        .expect("alice's inbox")
        .into_inner()
        .notifications;
    assert_eq!(
        inbox.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(),
        ["feedback_on_your_input", "comment_on_your_input"]
    );
    assert_eq!(inbox[1].category, C::Comments as i32);
    assert_eq!(
        inbox[1].title,
        "Someone commented on your input \"Benches\" in Harbour Walk."
    );
    platform.stop().await;
}

async fn a_daily_digest_gathers_the_day_into_one_mail(backend: Backend) {
    let platform = Platform::start(backend).await;
    // A Tuesday morning in Brussels.
    let start = platform.advance_to_local(Weekday::Tue, 10, 0);
    let carol = platform.person("en", &[]).await;
    set(
        &platform,
        &carol,
        &[(C::Comments, F::Daily), (C::Feedback, F::Daily)],
    )
    .await;
    let harbour = platform.project("Harbour Walk", None).await;
    let station = platform.project("Station Square", None).await;
    let benches = uuid::Uuid::now_v7().to_string();
    let lights = uuid::Uuid::now_v7().to_string();
    let trees = uuid::Uuid::now_v7().to_string();
    platform.follow_project(&carol, &station).await;

    platform
        .comment(&carol, &harbour, &benches, "Benches")
        .await;
    platform.advance(Duration::hours(3));
    platform.feedback(&carol, &station, &trees, "Trees").await;
    platform.comment(&carol, &harbour, &lights, "Lights").await;
    platform.advance(Duration::hours(6));
    platform
        .feedback(&carol, &harbour, &benches, "Benches")
        .await;
    // Projects are daily by default.
    platform.update(&station, "Works start Monday").await;

    let due = next_local(start, Weekday::Wed, 7, 0);
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(platform.sink.mails().await.is_empty(), "all wait");
    let waiting = platform.deliveries_of(&carol).await;
    assert_eq!(waiting.len(), 5);
    for d in &waiting {
        assert_eq!(d.state, "digest", "{}", d.kind);
        assert_eq!(d.digest_due_at, Some(due), "{}", d.kind);
    }

    // A minute before: nothing.
    platform
        .shared
        .clock
        .set(due - Duration::minutes(1))
        .expect("a manual clock");
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(platform.sink.mails().await.is_empty(), "not before 07:00");

    platform.shared.clock.set(due).expect("a manual clock");
    let mails = platform.mails(1).await;
    assert_eq!(mails.len(), 1, "one mail for the whole day");
    let digest = to(&mails, &carol);
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0].subject(), "Your digest");
    assert!(digest[0].header("List-Unsubscribe").is_some());
    let text = digest[0].text().replace("\r\n", "\n");
    // Projects in the order of their first item, inputs likewise inside.
    let order = [
        at(&text, "\nHarbour Walk\n"),
        at(&text, "  Benches\n"),
        at(
            &text,
            "    - Someone commented on your input \"Benches\" in Harbour Walk.",
        ),
        at(
            &text,
            "    - The city answered your input \"Benches\" in Harbour Walk.",
        ),
        at(&text, "  Lights\n"),
        at(
            &text,
            "    - Someone commented on your input \"Lights\" in Harbour Walk.",
        ),
        at(&text, "\nStation Square\n"),
        at(&text, "  Trees\n"),
        at(
            &text,
            "    - The city answered your input \"Trees\" in Station Square.",
        ),
        at(&text, "    - There is news about Station Square."),
    ];
    assert!(order.is_sorted(), "grouped in order: {order:?}\n{text}");
    assert_eq!(text.matches("    - ").count(), 5, "{text}");
    let html = digest[0].html();
    assert!(at(&html, "<h2>Harbour Walk</h2>") < at(&html, "<h2>Station Square</h2>"));

    let after = platform.deliveries_of(&carol).await;
    let states: Vec<(&str, &str)> = after
        .iter()
        .map(|d| (d.kind.as_str(), d.state.as_str()))
        .collect();
    assert_eq!(states.iter().filter(|s| s.1 == "digested").count(), 5);
    assert_eq!(
        states.iter().filter(|s| *s == &("digest", "sent")).count(),
        1
    );
    assert_eq!(after.len(), 6);

    // A week with nothing pending: no mail, and no empty digest.
    platform.advance(Duration::days(8));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert_eq!(
        platform.sink.mails().await.len(),
        1,
        "never an empty digest"
    );
    assert_eq!(platform.deliveries_of(&carol).await.len(), 6);
    platform.stop().await;
}

async fn a_weekly_digest_waits_for_monday(backend: Backend) {
    let platform = Platform::start(backend).await;
    let start = platform.advance_to_local(Weekday::Tue, 10, 0);
    let dan = platform.person("en", &[]).await;
    set(&platform, &dan, &[(C::Comments, F::Weekly)]).await;
    let harbour = platform.project("Harbour Walk", None).await;
    let station = platform.project("Station Square", None).await;
    platform
        .comment(&dan, &station, &uuid::Uuid::now_v7().to_string(), "Kiosk")
        .await;
    platform.advance(Duration::days(2));
    platform
        .comment(&dan, &harbour, &uuid::Uuid::now_v7().to_string(), "Pier")
        .await;

    let monday = next_local(start, Weekday::Mon, 7, 0);
    let waiting = platform.deliveries_of(&dan).await;
    assert_eq!(waiting.len(), 2);
    for d in waiting {
        assert_eq!(
            (d.state.as_str(), d.digest_due_at),
            ("digest", Some(monday))
        );
    }
    // Every morning up to Sunday's passes without mail.
    platform
        .shared
        .clock
        .set(monday - Duration::days(1))
        .expect("a manual clock");
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    assert!(platform.sink.mails().await.is_empty(), "not before Monday");

    platform.shared.clock.set(monday).expect("a manual clock");
    let mails = platform.mails(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, [dan.email.as_str()]);
    assert_eq!(mails[0].subject(), "Your digest");
    let text = mails[0].text().replace("\r\n", "\n");
    assert!(
        at(&text, "\nStation Square\n") < at(&text, "\nHarbour Walk\n"),
        "the project of the first item first:\n{text}"
    );
    assert!(at(&text, "  Kiosk\n") < at(&text, "  Pier\n"));
    assert_eq!(text.matches("    - ").count(), 2, "{text}");

    // The next item waits for the next Monday.
    platform.advance(Duration::hours(1));
    platform
        .comment(&dan, &harbour, &uuid::Uuid::now_v7().to_string(), "Dunes")
        .await;
    let next_monday = next_local(platform.now(), Weekday::Mon, 7, 0);
    platform
        .shared
        .clock
        .set(next_monday - Duration::minutes(1))
        .expect("a manual clock");
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    assert_eq!(platform.sink.mails().await.len(), 1);
    platform
        .shared
        .clock
        .set(next_monday)
        .expect("a manual clock");
    let mails = platform.mails(2).await;
    assert_eq!(mails.len(), 2);
    let text = mails[1].text().replace("\r\n", "\n");
    assert!(text.contains("  Dunes\n"), "{text}");
    assert!(!text.contains("Kiosk") && !text.contains("Pier"), "{text}");

    // An empty week: nothing.
    platform.advance(Duration::days(7));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert_eq!(platform.sink.mails().await.len(), 2);
    platform.stop().await;
}

async fn defaults_follow_the_role(backend: Backend) {
    let platform = Platform::start(backend).await;
    let maker = platform.person("en", &["decision_maker"]).await;
    let resident = platform.person("en", &[]).await;
    // Unknown here yet: the roles in the token decide.
    let newcomer = platform.stranger(&["decision_maker"]);
    let common = [
        (C::Feedback, F::Instant),
        (C::Comments, F::Instant),
        (C::Projects, F::Daily),
        (C::Staff, F::Instant),
        (C::Announcements, F::Weekly),
    ];
    let with = |reports: F| {
        let mut all = common.to_vec();
        all.push((C::Reports, reports));
        expected(&all)
    };
    assert_eq!(get(&platform, &maker).await, with(F::Instant));
    assert_eq!(get(&platform, &resident).await, with(F::Off));
    assert_eq!(get(&platform, &newcomer).await, with(F::Instant));
    // A choice replaces the default for that category only.
    set(&platform, &resident, &[(C::Reports, F::Weekly)]).await;
    assert_eq!(get(&platform, &resident).await, with(F::Weekly));
    assert_eq!(get(&platform, &maker).await, with(F::Instant));
    platform.stop().await;
}

async fn bad_updates_are_refused_and_change_nothing(backend: Backend) {
    let platform = Platform::start(backend).await;
    let erin = platform.person("en", &[]).await;
    let before = get(&platform, &erin).await;
    let raw = |pairs: &[(i32, i32)]| proto::UpdatePreferencesRequest {
        preferences: pairs
            .iter()
            .map(|(c, f)| proto::Preference {
                category: *c,
                frequency: *f,
            })
            .collect(),
    };
    let cases: Vec<(&str, proto::UpdatePreferencesRequest, Vec<&str>)> = vec![
        (
            "an unknown category next to a good change",
            raw(&[(C::Comments as i32, F::Daily as i32), (99, F::Off as i32)]),
            vec!["preferences[1].category"],
        ),
        (
            "the unspecified category",
            raw(&[(C::Unspecified as i32, F::Daily as i32)]),
            vec!["preferences[0].category"],
        ),
        (
            "an unspecified frequency",
            raw(&[(C::Feedback as i32, F::Unspecified as i32)]),
            vec!["preferences[0].frequency"],
        ),
        (
            "an unknown frequency",
            raw(&[(C::Projects as i32, F::Off as i32), (C::Staff as i32, 17)]),
            vec!["preferences[1].frequency"],
        ),
        (
            "a category named twice",
            raw(&[
                (C::Projects as i32, F::Off as i32),
                (C::Reports as i32, F::Instant as i32),
                (C::Projects as i32, F::Weekly as i32),
            ]),
            vec!["preferences[2].category"],
        ),
        ("nothing at all", raw(&[]), vec!["preferences"]),
    ];
    for (what, request, fields) in cases {
        let status = refused(
            platform
                .client()
                .update_preferences(platform.by(request, Some(&erin)))
                .await,
            Code::InvalidArgument,
            what,
        );
        let named: Vec<String> = status
            .get_details_bad_request()
            .expect("field violations")
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(named, fields, "{what}");
        assert_eq!(
            get(&platform, &erin).await,
            before,
            "{what} changed nothing"
        );
    }
    let stored = preferences::Entity::find()
        .filter(preferences::Column::UserId.eq(erin.id.as_str()))
        .all(&platform.server.running.context.db)
        .await
        .expect("read preferences");
    assert!(stored.is_empty(), "{stored:?}");
    refused(
        platform
            .client()
            .update_preferences(platform.by(choose(&[(C::Comments, F::Off)]), None))
            .await,
        Code::Unauthenticated,
        "signed out",
    );
    platform.stop().await;
}

async fn turning_a_category_off_stops_what_waits(backend: Backend) {
    let platform = Platform::start(backend).await;
    let start = platform.advance_to_local(Weekday::Tue, 10, 0);
    let ivy = platform.person("en", &[]).await;
    set(&platform, &ivy, &[(C::Comments, F::Daily)]).await;
    let harbour = platform.project("Harbour Walk", None).await;
    platform.follow_project(&ivy, &harbour).await;
    let input = uuid::Uuid::now_v7().to_string();
    // Two items wait for the digest (projects are daily by default) ...
    platform.update(&harbour, "Works start Monday").await;
    platform.comment(&ivy, &harbour, &input, "Benches").await;
    // ... and an instant mail waits for the server.
    platform.sink.set_down(true);
    platform.feedback(&ivy, &harbour, &input, "Benches").await;
    platform
        .wait_until("a failed attempt", || async {
            platform
                .deliveries_of(&ivy)
                .await
                .iter()
                .any(|d| d.state == "retrying")
        })
        .await;

    set(
        &platform,
        &ivy,
        &[(C::Projects, F::Off), (C::Feedback, F::Off)],
    )
    .await;
    platform.sink.set_down(false);
    platform
        .shared
        .clock
        .set(next_local(start, Weekday::Wed, 7, 0))
        .expect("a manual clock");
    let mails = platform.mails(1).await;
    assert_eq!(
        mails.iter().map(|m| m.subject()).collect::<Vec<_>>(),
        ["Your digest"],
        "nothing of what was turned off"
    );
    let text = mails[0].text().replace("\r\n", "\n");
    assert!(
        text.contains("    - Someone commented on your input \"Benches\" in Harbour Walk."),
        "{text}"
    );
    assert!(!text.contains("There is news"), "{text}");
    assert_eq!(text.matches("    - ").count(), 1, "{text}");
    let mut states: Vec<(String, String)> = platform
        .deliveries_of(&ivy)
        .await
        .into_iter()
        .map(|d| (d.kind, d.state))
        .collect();
    states.sort();
    let expected: Vec<(String, String)> = [
        ("comment_on_your_input", "digested"),
        ("digest", "sent"),
        ("feedback_on_your_input", "cancelled"),
        ("update_posted", "cancelled"),
    ]
    .iter()
    .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(states, expected);
    // Still only that one mail later on.
    platform.advance(Duration::days(8));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert_eq!(platform.sink.mails().await.len(), 1);
    platform.stop().await;
}

inspraak_host::on_both_databases!(
    turning_a_category_off_stops_what_waits,
    off_sends_no_mail_but_the_inbox_still_has_it,
    a_daily_digest_gathers_the_day_into_one_mail,
    a_weekly_digest_waits_for_monday,
    defaults_follow_the_role,
    bad_updates_are_refused_and_change_nothing,
);
