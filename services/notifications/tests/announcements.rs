//! Announcements reach a project's participants (or every resident)
//! through the same inboxes and preferences; only communication officers
//! and admins send them; a retry tells nobody twice.

mod support;

use std::collections::HashMap;

use inspraak_proto::events::v1 as events;
use inspraak_proto::notifications::v1 as proto;
use support::{Backend, Platform, Who, refused, to};
use tonic::Code;
use tonic_types::StatusExt;

fn announcement(project: &str, request_id: &str) -> proto::AnnounceRequest {
    proto::AnnounceRequest {
        project_id: project.to_owned(),
        title: HashMap::from([
            ("nl".to_owned(), "Infoavond op 3 december".to_owned()),
            (
                "en".to_owned(),
                "Information evening on 3 December".to_owned(),
            ),
        ]),
        body: HashMap::from([
            (
                "nl".to_owned(),
                "Kom langs in het buurthuis om 19 uur.".to_owned(),
            ),
            (
                "en".to_owned(),
                "Come to the community centre at 7 pm.".to_owned(),
            ),
        ]),
        request_id: request_id.to_owned(),
    }
}

async fn instant(platform: &Platform, who: &Who) {
    platform
        .client()
        .update_preferences(platform.by(
            proto::UpdatePreferencesRequest {
                preferences: vec![proto::Preference {
                    category: proto::Category::Announcements as i32,
                    frequency: proto::Frequency::Instant as i32,
                }],
            },
            Some(who),
        ))
        .await
        .expect("announcements at once");
}

async fn inbox_kinds(platform: &Platform, who: &Who) -> Vec<String> {
    platform
        .client()
        .list_notifications(platform.by(proto::ListNotificationsRequest::default(), Some(who)))
        .await
        .expect("an inbox")
        .into_inner()
        .notifications
        .into_iter()
        .map(|n| n.kind)
        .collect()
}

async fn participants_and_residents_are_told(backend: Backend) {
    let platform = Platform::start(backend).await;
    let officer = platform.person("nl", &["communication_officer"]).await;
    let poster = platform.person("nl", &[]).await;
    let follower = platform.person("en", &[]).await;
    let bystander = platform.person("en", &[]).await;
    let resident = platform.person("en", &[]).await;
    let project = platform.project("Parkstraat", None).await;
    platform
        .publish(
            "contributions.input.created.v1",
            1,
            &events::InputCreated {
                input_id: uuid::Uuid::now_v7().to_string(),
                project_id: project.clone(),
                author_id: poster.id.clone(),
                title: "Meer bomen".to_owned(),
                ..Default::default()
            },
        )
        .await;
    platform.follow_project(&follower, &project).await;
    instant(&platform, &poster).await;
    let before = platform.mails(1).await.len(); // the officer's rights

    let invalid = refused(
        platform
            .client()
            .announce(platform.by(
                proto::AnnounceRequest {
                    title: HashMap::from([("nl".to_owned(), "x".to_owned())]),
                    body: HashMap::new(),
                    ..announcement(&project, "")
                },
                Some(&officer),
            ))
            .await,
        Code::InvalidArgument,
        "a title too short, no body",
    );
    let mut fields: Vec<String> = invalid
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    assert_eq!(fields, vec!["body", "title[nl]"]);
    refused(
        platform
            .client()
            .announce(platform.by(announcement(&project, "r1"), Some(&resident)))
            .await,
        Code::PermissionDenied,
        "a resident",
    );
    refused(
        platform
            .client()
            .announce(platform.by(announcement(&project, "r1"), None))
            .await,
        Code::Unauthenticated,
        "signed out",
    );

    let sent = platform
        .client()
        .announce(platform.by(announcement(&project, "r1"), Some(&officer)))
        .await
        .expect("an announcement")
        .into_inner();
    assert_eq!(sent.recipients, 2, "the poster and the follower");
    let again = platform
        .client()
        .announce(platform.by(announcement(&project, "r1"), Some(&officer)))
        .await
        .expect("a retry")
        .into_inner();
    assert_eq!(again.announcement_id, sent.announcement_id);

    // The poster chose instant mail; the follower keeps the weekly default.
    let mails = platform.mails(before + 1).await;
    assert_eq!(
        mails.len(),
        before + 1,
        "one mail, the retry told nobody twice"
    );
    let told = to(&mails, &poster);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].subject(), "Infoavond op 3 december");
    assert!(told[0].text().contains("Kom langs in het buurthuis"));
    assert!(told[0].header("List-Unsubscribe").is_some());
    assert_eq!(inbox_kinds(&platform, &poster).await, vec!["announcement"]);
    assert_eq!(
        inbox_kinds(&platform, &follower).await,
        vec!["announcement"]
    );
    assert!(inbox_kinds(&platform, &bystander).await.is_empty());
    assert!(
        platform
            .deliveries_of(&follower)
            .await
            .iter()
            .any(|d| d.kind == "announcement" && d.state == "digest"),
        "the follower's waits for the weekly digest"
    );

    // To every resident.
    let everyone = platform
        .client()
        .announce(platform.by(announcement("", "r2"), Some(&officer)))
        .await
        .expect("to everyone")
        .into_inner();
    assert_eq!(
        everyone.recipients, 5,
        "every person known, the officer included"
    );
    assert_eq!(
        inbox_kinds(&platform, &bystander).await,
        vec!["announcement"]
    );
    assert!(
        inbox_kinds(&platform, &officer)
            .await
            .iter()
            .all(|k| k != "announcement")
    );
    platform.stop().await;
}

inspraak_host::on_both_databases!(participants_and_residents_are_told);
