//! Overdue input: the project's managers are told at once; the core team
//! only when it stays unanswered for the further period, once, even with
//! two scans at once; an answer in time stops it.

mod support;

use chrono::Duration;
use inspraak_notifications::NotificationsService;
use inspraak_notifications::escalation::escalate_due;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use support::{Backend, Platform, Who, settings, to};

async fn overdue(platform: &Platform, project: &str, input: &str, title: &str) {
    platform
        .publish(
            "contributions.input.overdue.v1",
            1,
            &events::InputOverdue {
                input_id: input.to_owned(),
                project_id: project.to_owned(),
                title: title.to_owned(),
                answer_deadline: None,
                phase_id: String::new(),
            },
        )
        .await;
}

async fn managed_project(platform: &Platform, manager: &Who) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    platform
        .publish(
            "projects.project.published.v1",
            1,
            &events::ProjectChanged {
                project: Some(projects::Project {
                    id: id.clone(),
                    team: Some(projects::Team {
                        manager_ids: vec![manager.id.clone()],
                        communication_contact_id: String::new(),
                    }),
                    ..Default::default()
                }),
            },
        )
        .await;
    id
}

async fn escalation_reaches_the_core_team_once(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.person("nl", &[]).await;
    let core = platform.person("en", &["platform_admin"]).await;
    let resident = platform.person("en", &[]).await;
    let project = managed_project(&platform, &manager).await;
    let (late, answered) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    overdue(&platform, &project, &late, "Een vergeten vraag").await;
    overdue(&platform, &project, &answered, "Een beantwoorde vraag").await;
    // Mails so far: the manager's rights and the two overdue notices; the
    // admin's own rights mail.
    let mails = platform.mails(4).await;
    assert_eq!(
        to(&mails, &manager).len(),
        3,
        "rights and two overdue notices"
    );
    assert_eq!(to(&mails, &core).len(), 1, "only the admin's rights so far");

    platform.advance(Duration::days(3));
    platform
        .publish(
            "contributions.feedback.published.v1",
            2,
            &events::FeedbackPublished {
                input_id: answered.clone(),
                project_id: project.clone(),
                input_title: "Een beantwoorde vraag".to_owned(),
                author_id: manager.id.clone(),
                ..Default::default()
            },
        )
        .await;
    let state =
        NotificationsService::new(settings(&platform.sink)).state(&platform.server.running.context);
    assert_eq!(
        escalate_due(&state).await.expect("a scan"),
        0,
        "not yet due"
    );
    platform.advance(Duration::days(5));
    let (a, b) = tokio::join!(escalate_due(&state), escalate_due(&state));
    assert_eq!(
        a.expect("scan a") + b.expect("scan b"),
        1,
        "the late one, once"
    );
    assert_eq!(escalate_due(&state).await.expect("a rescan"), 0);
    let mails = platform.mails(5).await;
    assert_eq!(mails.len(), 5);
    let escalated = to(&mails, &core);
    assert_eq!(escalated.len(), 2);
    assert!(
        escalated
            .iter()
            .any(|m| m.subject() == "Still unanswered: \"Een vergeten vraag\""),
        "{:?}",
        escalated.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert!(to(&mails, &resident).is_empty());
    platform.stop().await;
}

inspraak_host::on_both_databases!(escalation_reaches_the_core_team_once);
