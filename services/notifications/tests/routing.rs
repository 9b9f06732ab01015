//! Each kind of notification reaches the people it is for, and nobody
//! else: one row per event type, checked in the inboxes.

mod support;

use std::collections::HashMap;

use inspraak_proto::events::v1 as events;
use inspraak_proto::notifications::v1 as proto;
use inspraak_proto::projects::v1 as projects;
use support::{Backend, Platform, Who};

async fn kinds(platform: &Platform, who: &Who) -> Vec<String> {
    let mut kinds: Vec<String> = platform
        .client()
        .list_notifications(platform.by(
            proto::ListNotificationsRequest {
                page_size: 100,
                ..Default::default()
            },
            Some(who),
        ))
        .await
        .expect("an inbox")
        .into_inner()
        .notifications
        .into_iter()
        .map(|n| n.kind)
        .collect();
    kinds.sort();
    kinds
}

fn text(value: &str) -> Option<projects::LocalizedText> {
    Some(projects::LocalizedText {
        text: HashMap::from([("en".to_owned(), value.to_owned())]),
    })
}

async fn every_kind_reaches_its_people(backend: Backend) {
    let platform = Platform::start(backend).await;
    let reviewer = platform.person("en", &["platform_admin"]).await;
    let manager = platform.person("en", &[]).await;
    let contact = platform.person("en", &[]).await;
    let proposer = platform.person("en", &[]).await;
    let author = platform.person("en", &[]).await;
    let follower = platform.person("en", &[]).await;
    let bystander = platform.person("en", &[]).await;
    let project_id = uuid::Uuid::now_v7().to_string();
    let input_id = uuid::Uuid::now_v7().to_string();
    let project = projects::Project {
        id: project_id.clone(),
        title: text("Park Street"),
        state: projects::ProjectState::Published as i32,
        team: Some(projects::Team {
            manager_ids: vec![manager.id.clone()],
            communication_contact_id: contact.id.clone(),
        }),
        ..Default::default()
    };
    platform.follow_project(&follower, &project_id).await;
    platform
        .publish(
            "contributions.follow.changed.v1",
            1,
            &events::FollowChanged {
                user_id: follower.id.clone(),
                target_type: "input".to_owned(),
                target_id: input_id.clone(),
                project_id: project_id.clone(),
                following: true,
                at: None,
            },
        )
        .await;
    let phase = projects::Phase {
        id: uuid::Uuid::now_v7().to_string(),
        title: text("Ideas"),
        ..Default::default()
    };
    let proposal = projects::Proposal {
        id: uuid::Uuid::now_v7().to_string(),
        title: text("A greener square"),
        proposer_id: proposer.id.clone(),
        state: projects::ProposalState::Approved as i32,
        decided_by: reviewer.id.clone(),
        ..Default::default()
    };
    platform
        .publish(
            "projects.project.published.v1",
            1,
            &events::ProjectChanged {
                project: Some(project.clone()),
            },
        )
        .await;
    platform
        .publish(
            "projects.phase.started.v1",
            2,
            &events::PhaseTimeReached {
                project_id: project_id.clone(),
                phase: Some(phase.clone()),
                at: None,
            },
        )
        .await;
    platform
        .publish(
            "projects.phase.ending_soon.v1",
            3,
            &events::PhaseTimeReached {
                project_id: project_id.clone(),
                phase: Some(phase.clone()),
                at: None,
            },
        )
        .await;
    platform
        .publish(
            "projects.milestone.approaching.v1",
            4,
            &events::MilestoneApproaching {
                project_id: project_id.clone(),
                milestone: Some(projects::Milestone {
                    id: "m".to_owned(),
                    title: text("Council vote"),
                    at: None,
                }),
            },
        )
        .await;
    platform
        .publish(
            "projects.proposal.submitted.v1",
            1,
            &events::ProposalSubmitted {
                proposal: Some(proposal.clone()),
            },
        )
        .await;
    platform
        .publish(
            "projects.proposal.decided.v1",
            2,
            &events::ProposalDecided {
                proposal: Some(proposal.clone()),
            },
        )
        .await;
    platform
        .publish(
            "contributions.input.status_changed.v1",
            2,
            &events::InputStatusChanged {
                input_id: input_id.clone(),
                project_id: project_id.clone(),
                author_id: author.id.clone(),
                title: "More trees".to_owned(),
                from_status: "proposed".to_owned(),
                to_status: "under_consideration".to_owned(),
                actor_id: manager.id.clone(),
                ..Default::default()
            },
        )
        .await;
    // New input: news for the managers, a task when it awaits screening,
    // nothing when a manager posts it themselves.
    for (status, by) in [
        ("proposed", &author),
        ("prescreening", &author),
        ("proposed", &manager),
    ] {
        platform
            .publish(
                "contributions.input.created.v1",
                1,
                &events::InputCreated {
                    input_id: uuid::Uuid::now_v7().to_string(),
                    project_id: project_id.clone(),
                    author_id: by.id.clone(),
                    title: "Benches".to_owned(),
                    status: status.to_owned(),
                    ..Default::default()
                },
            )
            .await;
    }
    platform
        .publish(
            "contributions.report.filed.v1",
            1,
            &events::ReportFiled {
                report_id: uuid::Uuid::now_v7().to_string(),
                project_id: project_id.clone(),
                target_type: "input".to_owned(),
                target_id: input_id.clone(),
                reason: "spam".to_owned(),
                reporter_id: bystander.id.clone(),
                open_reports: 1,
                ..Default::default()
            },
        )
        .await;
    // A second report on the same target: moderators are not told again.
    platform
        .publish(
            "contributions.report.filed.v1",
            1,
            &events::ReportFiled {
                report_id: uuid::Uuid::now_v7().to_string(),
                project_id: project_id.clone(),
                target_type: "input".to_owned(),
                target_id: input_id.clone(),
                reason: "spam".to_owned(),
                reporter_id: follower.id.clone(),
                open_reports: 2,
                ..Default::default()
            },
        )
        .await;

    let expect = |list: &[&str]| {
        let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(
        kinds(&platform, &reviewer).await,
        expect(&["proposal_to_review", "rights_received"])
    );
    assert_eq!(
        kinds(&platform, &manager).await,
        expect(&[
            "deadline_approaching",
            "deadline_approaching",
            "input_posted",
            "input_reported",
            "input_to_screen",
            "rights_received"
        ])
    );
    assert_eq!(
        kinds(&platform, &contact).await,
        expect(&[
            "deadline_approaching",
            "deadline_approaching",
            "rights_received"
        ])
    );
    assert_eq!(
        kinds(&platform, &proposer).await,
        expect(&["proposal_decided"])
    );
    assert_eq!(
        kinds(&platform, &author).await,
        expect(&["status_of_your_input"])
    );
    assert_eq!(
        kinds(&platform, &follower).await,
        expect(&[
            "phase_ending_soon",
            "phase_started",
            "project_published",
            "status_of_followed_input"
        ])
    );
    assert!(kinds(&platform, &bystander).await.is_empty());
    platform.stop().await;
}

/// A role that arrives before the person's registration still counts: the
/// first admin's two events travel together, and on PostgreSQL events are
/// handled concurrently, so they can swap. (On SQLite they are handled one
/// at a time, in the order they were written.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_granted_before_registration_counts() {
    let platform = Platform::start(Backend::Postgres).await;
    let id = uuid::Uuid::now_v7().to_string();
    let admin = Who {
        id: id.clone(),
        email: format!("{}@city.example", &id[id.len() - 12..]),
        roles: vec!["platform_admin".to_owned()],
    };
    // The role first; it is handled (publish returns) only once the
    // registration that follows it has been.
    let granted = events::RoleGranted {
        user_id: admin.id.clone(),
        role: "platform_admin".to_owned(),
        project_reviewer: true,
        granted_by: "bootstrap".to_owned(),
    };
    let role = platform.publish("identity.role.granted.v1", 2, &granted);
    let registration = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        platform
            .publish(
                "identity.user.registered.v1",
                1,
                &events::UserRegistered {
                    user_id: admin.id.clone(),
                    email: admin.email.clone(),
                    display_name: "Platform admin".to_owned(),
                    locale: "en".to_owned(),
                    email_confirmed: false,
                },
            )
            .await
    };
    tokio::join!(role, registration);
    platform
        .wait_until("the admin's rights in their inbox", || async {
            kinds(&platform, &admin).await == ["rights_received"]
        })
        .await;
    let mails = platform.mails(1).await;
    assert_eq!(support::to(&mails, &admin).len(), 1, "and by mail");
    platform.stop().await;
}

inspraak_host::on_both_databases!(every_kind_reaches_its_people);
