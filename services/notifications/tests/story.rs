//! A scripted story produces exactly the expected mails to the expected
//! people, in their language, with one-click unsubscribe where it belongs;
//! redelivering every event again sends nothing new. On PostgreSQL with the
//! real RabbitMQ, and on the embedded default.

mod support;

use std::collections::HashMap;

use chrono::Duration;
use inspraak_proto::events::v1 as events;
use inspraak_proto::notifications::v1 as proto;
use inspraak_proto::projects::v1 as projects;
use support::{Backend, Platform, Who, to};

fn project(id: &str, manager: &Who) -> projects::Project {
    projects::Project {
        id: id.to_owned(),
        title: Some(projects::LocalizedText {
            text: HashMap::from([
                ("nl".to_owned(), "Parkstraat vernieuwd".to_owned()),
                ("fr".to_owned(), "Rue du Parc rénovée".to_owned()),
                ("en".to_owned(), "Park Street renewed".to_owned()),
            ]),
        }),
        state: projects::ProjectState::Published as i32,
        team: Some(projects::Team {
            manager_ids: vec![manager.id.clone()],
            communication_contact_id: String::new(),
        }),
        ..Default::default()
    }
}

async fn story(platform: Platform) {
    let alice = platform.person("nl", &[]).await;
    let bob = platform.person("fr", &[]).await;
    let carol = platform.person("en", &[]).await;
    let mia = platform.person("en", &[]).await;
    let project_id = uuid::Uuid::now_v7().to_string();
    let input_id = uuid::Uuid::now_v7().to_string();
    let plan = project(&project_id, &mia);
    platform
        .publish(
            "projects.project.published.v1",
            1,
            &events::ProjectChanged {
                project: Some(plan.clone()),
            },
        )
        .await;
    for (who, target_type, target) in [
        (&alice, "input", &input_id),
        (&bob, "input", &input_id),
        (&carol, "project", &project_id),
    ] {
        platform
            .publish(
                "contributions.follow.changed.v1",
                1,
                &events::FollowChanged {
                    user_id: who.id.clone(),
                    target_type: target_type.to_owned(),
                    target_id: target.clone(),
                    project_id: project_id.clone(),
                    following: true,
                    at: None,
                },
            )
            .await;
    }
    platform
        .publish(
            "contributions.feedback.published.v1",
            2,
            &events::FeedbackPublished {
                feedback_id: uuid::Uuid::now_v7().to_string(),
                input_id: input_id.clone(),
                project_id: project_id.clone(),
                input_author_id: alice.id.clone(),
                input_title: "Meer bomen".to_owned(),
                body: HashMap::from([
                    ("nl".to_owned(), "We planten in maart".to_owned()),
                    ("fr".to_owned(), "Nous plantons en mars".to_owned()),
                ]),
                signed_by: "Dienst Groen".to_owned(),
                author_id: mia.id.clone(),
                status: "accepted".to_owned(),
                ..Default::default()
            },
        )
        .await;
    // The status set with the feedback is told with it, not again.
    platform
        .publish(
            "contributions.input.status_changed.v1",
            3,
            &events::InputStatusChanged {
                input_id: input_id.clone(),
                project_id: project_id.clone(),
                author_id: alice.id.clone(),
                title: "Meer bomen".to_owned(),
                from_status: "proposed".to_owned(),
                to_status: "accepted".to_owned(),
                actor_id: mia.id.clone(),
                with_feedback: true,
                ..Default::default()
            },
        )
        .await;
    let comment_id = uuid::Uuid::now_v7().to_string();
    platform
        .publish(
            "contributions.comment.posted.v1",
            1,
            &events::CommentPosted {
                comment_id: comment_id.clone(),
                input_id: input_id.clone(),
                project_id: project_id.clone(),
                author_id: bob.id.clone(),
                input_author_id: alice.id.clone(),
                input_title: "Meer bomen".to_owned(),
                excerpt: "Goed idee <b>echt</b> & snel".to_owned(),
                ..Default::default()
            },
        )
        .await;
    platform
        .publish(
            "contributions.comment.posted.v1",
            1,
            &events::CommentPosted {
                comment_id: uuid::Uuid::now_v7().to_string(),
                input_id: input_id.clone(),
                project_id: project_id.clone(),
                author_id: carol.id.clone(),
                parent_id: comment_id.clone(),
                parent_author_id: bob.id.clone(),
                input_author_id: alice.id.clone(),
                input_title: "Meer bomen".to_owned(),
                excerpt: "I agree".to_owned(),
                ..Default::default()
            },
        )
        .await;
    platform
        .publish(
            "projects.update.posted.v1",
            1,
            &events::UpdatePosted {
                update: Some(projects::ProjectUpdate {
                    id: uuid::Uuid::now_v7().to_string(),
                    project_id: project_id.clone(),
                    title: Some(projects::LocalizedText {
                        text: HashMap::from([("en".to_owned(), "Works start Monday".to_owned())]),
                    }),
                    author_id: mia.id.clone(),
                    ..Default::default()
                }),
            },
        )
        .await;
    platform
        .publish(
            "identity.user.confirmation_requested.v1",
            1,
            &events::ConfirmationRequested {
                user_id: uuid::Uuid::now_v7().to_string(),
                email: "dave@city.example".to_owned(),
                locale: "fr".to_owned(),
                code: "482913".to_owned(),
                expires_at: None,
            },
        )
        .await;

    // Mia: her rights; Alice: the feedback and Bob's comment, and Carol's
    // reply on her input; Bob: the feedback on what he follows and the
    // reply; Dave: his code. Carol's update waits for her daily digest.
    let mails = platform.mails(7).await;
    assert_eq!(
        mails.len(),
        7,
        "{:#?}",
        mails
            .iter()
            .map(|m| (&m.to, m.subject()))
            .collect::<Vec<_>>()
    );
    let subjects = |who: &Who| -> Vec<String> {
        let mut s: Vec<String> = to(&mails, who).iter().map(|m| m.subject()).collect();
        s.sort();
        s
    };
    assert_eq!(subjects(&mia), vec!["You have new rights"]);
    assert_eq!(
        subjects(&alice),
        vec![
            "Antwoord op uw bijdrage \"Meer bomen\"",
            "Een reactie op \"Meer bomen\"",
            "Een reactie op \"Meer bomen\"",
        ]
    );
    assert_eq!(
        subjects(&bob),
        vec![
            "Réponse à « Meer bomen »",
            "Une réponse à votre commentaire"
        ]
    );
    assert!(
        subjects(&carol).is_empty(),
        "the update waits for the digest"
    );
    let dave: Vec<&support::smtp::Mail> = mails
        .iter()
        .filter(|m| m.to.contains(&"dave@city.example".to_owned()))
        .collect();
    assert_eq!(dave.len(), 1);
    assert_eq!(dave[0].subject(), "Votre code de confirmation");
    assert!(dave[0].text().contains("482913"));
    assert!(
        dave[0].header("List-Unsubscribe").is_none(),
        "codes cannot be unsubscribed"
    );

    let feedback = to(&mails, &alice)
        .into_iter()
        .find(|m| m.subject().starts_with("Antwoord"))
        .expect("alice's feedback mail");
    assert!(
        feedback.text().contains("We planten in maart"),
        "{}",
        feedback.text()
    );
    assert!(feedback.text().contains("Parkstraat vernieuwd"));
    let unsubscribe = feedback
        .header("List-Unsubscribe")
        .expect("a one-click link");
    assert!(
        unsubscribe.starts_with("<https://inspraak.city.example/unsubscribe?token="),
        "{unsubscribe}"
    );
    assert_eq!(
        feedback.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let from_bob = to(&mails, &alice)
        .into_iter()
        .find(|m| m.text().contains("Goed idee"))
        .expect("the comment mail");
    assert!(
        from_bob
            .html()
            .contains("Goed idee &lt;b&gt;echt&lt;/b&gt; &amp; snel")
    );
    assert!(!from_bob.html().contains("<b>echt"));
    let bobs = to(&mails, &bob);
    assert!(
        bobs.iter()
            .any(|m| m.text().contains("Nous plantons en mars")),
        "bob reads the feedback in French"
    );

    // The inbox holds the same, in each person's language.
    let inbox = platform
        .client()
        .list_notifications(platform.by(proto::ListNotificationsRequest::default(), Some(&carol)))
        .await
        .expect("carol's inbox")
        .into_inner()
        .notifications;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].kind, "update_posted");
    assert_eq!(inbox[0].title, "There is news about Park Street renewed.");

    // Every event again: nothing new anywhere.
    let deliveries = platform.deliveries().await.len();
    platform.redeliver_all().await;
    let last = platform.published.lock().expect("the list").last().cloned();
    if let Some(last) = last {
        platform.wait_handled(&last.event_id).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        platform.sink.mails().await.len(),
        7,
        "redelivery sends nothing"
    );
    assert_eq!(platform.deliveries().await.len(), deliveries);

    // Carol's digest at 07:00 in the platform's zone the next day.
    platform.advance(Duration::days(1));
    let mails = platform.mails(8).await;
    assert_eq!(mails.len(), 8);
    let digest = to(&mails, &carol);
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0].subject(), "Your digest");
    assert!(digest[0].text().contains("Park Street renewed"));
    assert!(
        digest[0]
            .text()
            .contains("There is news about Park Street renewed.")
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_rabbitmq_and_postgresql() {
    story(Platform::start_on_rabbitmq().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_the_embedded_default() {
    story(Platform::start(Backend::Sqlite).await).await;
}
