//! When the SMTP server is away, mail waits and goes out once it is back,
//! after the back-off on the service's clock; a recipient the server
//! refuses for good is failed at once, with its reason, for the admins to
//! see, and never tried again.

mod support;

use std::time::Duration as StdDuration;

use chrono::Duration;
use inspraak_proto::notifications::v1 as proto;
use support::{Backend, Platform, refused, to};

async fn an_outage_delays_mail_until_the_server_is_back(backend: Backend) {
    let platform = Platform::start(backend).await;
    let alice = platform.person("en", &[]).await;
    let project = platform.project("Market Square", None).await;
    let input = uuid::Uuid::now_v7().to_string();

    platform.sink.set_down(true);
    platform
        .feedback(&alice, &project, &input, "More benches")
        .await;
    platform
        .wait_until("a failed attempt", || async {
            platform
                .deliveries_of(&alice)
                .await
                .iter()
                .any(|d| d.state == "retrying")
        })
        .await;
    let failed_at = platform.now();
    let waiting = platform.deliveries_of(&alice).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].kind, "feedback_on_your_input");
    assert_eq!(waiting[0].state, "retrying");
    assert_eq!(waiting[0].attempts, 1);
    let error = waiting[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("421"),
        "the server's answer is kept: {error}"
    );
    assert_eq!(
        waiting[0].next_attempt_at,
        failed_at + Duration::seconds(60),
        "the first back-off is the retry base"
    );
    // The clock stands still: no second attempt, nothing sent.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(platform.sink.mails().await.is_empty());
    assert_eq!(platform.deliveries_of(&alice).await[0].attempts, 1);

    // Back, but the back-off has not passed yet.
    platform.sink.set_down(false);
    platform.advance(Duration::seconds(30));
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(
        platform.sink.mails().await.is_empty(),
        "nothing before the back-off has passed"
    );

    platform.advance(Duration::seconds(31));
    let mails = platform.mails(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(to(&mails, &alice).len(), 1);
    assert_eq!(
        mails[0].subject(),
        "An answer to your input \"More benches\""
    );
    let sent = platform.deliveries_of(&alice).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, "sent");
    assert_eq!(sent[0].attempts, 2);
    assert_eq!(sent[0].last_error, None);
    assert!(sent[0].sent_at.is_some());

    // Later still: no second copy.
    platform.advance(Duration::hours(2));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert_eq!(platform.sink.mails().await.len(), 1, "sent exactly once");
    assert_eq!(platform.deliveries_of(&alice).await[0].attempts, 2);
    platform.stop().await;
}

async fn a_refused_recipient_fails_at_once_for_good(backend: Backend) {
    let platform = Platform::start(backend).await;
    let alice = platform.person("en", &[]).await;
    let bob = platform.person("en", &[]).await;
    let admin = platform.stranger(&["platform_admin"]);
    let project = platform.project("Market Square", None).await;
    platform.sink.refuse(&bob.email);

    platform
        .feedback(&bob, &project, &uuid::Uuid::now_v7().to_string(), "Bins")
        .await;
    platform
        .feedback(&alice, &project, &uuid::Uuid::now_v7().to_string(), "Bikes")
        .await;
    platform
        .wait_until("bob's delivery to fail", || async {
            platform
                .deliveries_of(&bob)
                .await
                .iter()
                .any(|d| d.state == "failed")
        })
        .await;
    let mails = platform.mails(1).await;
    assert_eq!(mails.len(), 1, "only alice's mail leaves");
    assert_eq!(to(&mails, &alice).len(), 1);
    assert!(to(&mails, &bob).is_empty());
    let failed = platform.deliveries_of(&bob).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].state, "failed");
    assert_eq!(failed[0].attempts, 1, "a permanent refusal is not retried");
    let reason = failed[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains("550"), "{reason}");

    // The admins see it, with its reason, under its state.
    let listed = platform
        .client()
        .list_deliveries(platform.by(
            proto::ListDeliveriesRequest {
                state: "failed".to_owned(),
                ..Default::default()
            },
            Some(&admin),
        ))
        .await
        .expect("the failed deliveries")
        .into_inner()
        .deliveries;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, failed[0].id.to_string());
    assert_eq!(listed[0].user_id, bob.id);
    assert_eq!(listed[0].kind, "feedback_on_your_input");
    assert_eq!(listed[0].channel, "email");
    assert_eq!(listed[0].state, "failed");
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].last_error, reason);
    assert!(listed[0].sent_at.is_none());
    let sent = platform
        .client()
        .list_deliveries(platform.by(
            proto::ListDeliveriesRequest {
                state: "sent".to_owned(),
                ..Default::default()
            },
            Some(&admin),
        ))
        .await
        .expect("the sent deliveries")
        .into_inner()
        .deliveries;
    assert_eq!(
        sent.iter().map(|d| d.user_id.as_str()).collect::<Vec<_>>(),
        [alice.id.as_str()]
    );
    for state in ["retrying", "pending"] {
        let none = platform
            .client()
            .list_deliveries(platform.by(
                proto::ListDeliveriesRequest {
                    state: state.to_owned(),
                    ..Default::default()
                },
                Some(&admin),
            ))
            .await
            .expect("the deliveries")
            .into_inner()
            .deliveries;
        assert!(none.is_empty(), "{state}: {none:?}");
    }
    refused(
        platform
            .client()
            .list_deliveries(platform.by(
                proto::ListDeliveriesRequest {
                    state: "lost".to_owned(),
                    ..Default::default()
                },
                Some(&admin),
            ))
            .await,
        tonic::Code::InvalidArgument,
        "an unknown state",
    );

    // A day later: still one attempt, still no mail to bob.
    platform.advance(Duration::days(1));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    let again = platform.deliveries_of(&bob).await;
    assert_eq!((again[0].state.as_str(), again[0].attempts), ("failed", 1));
    assert_eq!(platform.sink.mails().await.len(), 1);

    // Once the mailbox is fixed, an admin sends it again — once; others
    // may not, and only a failed delivery can be.
    let retry = |who: &support::Who, id: &str| {
        let request = platform.by(proto::RetryDeliveryRequest { id: id.to_owned() }, Some(who));
        let mut client = platform.client();
        async move {
            client
                .retry_delivery(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let id = again[0].id.to_string();
    refused(
        retry(&bob, &id).await,
        tonic::Code::PermissionDenied,
        "not an admin",
    );
    platform.sink.accept(&bob.email);
    let queued = retry(&admin, &id).await.expect("sent again");
    assert_eq!(queued.state, "pending");
    let mails = platform.mails(2).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(support::to(&mails, &bob).len(), 1);
    refused(
        retry(&admin, &id).await,
        tonic::Code::FailedPrecondition,
        "a sent delivery",
    );
    refused(
        retry(&admin, &uuid::Uuid::now_v7().to_string()).await,
        tonic::Code::NotFound,
        "an unknown delivery",
    );
    platform.stop().await;
}

async fn a_long_outage_fails_after_the_last_attempt(backend: Backend) {
    let platform = Platform::start(backend).await;
    let max = platform.state().settings.max_attempts;
    assert_eq!(max, 8, "MAIL_MAX_ATTEMPTS by default");
    let carl = platform.person("en", &[]).await;
    let project = platform.project("Market Square", None).await;
    platform.sink.set_down(true);
    platform
        .feedback(
            &carl,
            &project,
            &uuid::Uuid::now_v7().to_string(),
            "Fountain",
        )
        .await;
    let mut waits = Vec::new();
    for attempt in 1..max {
        platform
            .wait_until(&format!("attempt {attempt}"), || async {
                platform.deliveries_of(&carl).await[0].attempts == attempt
            })
            .await;
        let delivery = platform.deliveries_of(&carl).await.remove(0);
        assert_eq!(delivery.state, "retrying", "after attempt {attempt}");
        waits.push((delivery.next_attempt_at - platform.now()).num_seconds());
        platform
            .shared
            .clock
            .set(delivery.next_attempt_at)
            .expect("a manual clock");
    }
    assert_eq!(
        waits,
        [60, 120, 240, 480, 600, 600, 600],
        "doubling from the base up to the maximum"
    );
    platform
        .wait_until("the last attempt", || async {
            platform.deliveries_of(&carl).await[0].state == "failed"
        })
        .await;
    let failed = platform.deliveries_of(&carl).await.remove(0);
    assert_eq!(failed.attempts, max);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("421"),
        "{:?}",
        failed.last_error
    );
    // Failed for good: back up, hours later, nothing goes out.
    platform.sink.set_down(false);
    platform.advance(Duration::hours(6));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert!(platform.sink.mails().await.is_empty());
    let still = platform.deliveries_of(&carl).await.remove(0);
    assert_eq!((still.state.as_str(), still.attempts), ("failed", max));
    platform.stop().await;
}

inspraak_host::on_both_databases!(
    an_outage_delays_mail_until_the_server_is_back,
    a_refused_recipient_fails_at_once_for_good,
    a_long_outage_fails_after_the_last_attempt,
);
