//! Two replicas of projects on one database, as a deployment runs them: a
//! read from one replica shows what the other changed — phases, milestones
//! and team, which reads take from a cache keyed by the project's version —
//! and who may see a draft follows its team, within `PROJECT_VIEW_MAX_AGE`
//! (how long a replica answers from a project row it read): at once with 0,
//! within the second by default. The replica that made a change shows it
//! at once either way. On PostgreSQL and on SQLite.

mod support;

use std::time::Instant;

use chrono::Duration;
use inspraak_projects::{ProjectsService, ProjectsSettings};
use inspraak_proto::projects::v1 as proto;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use support::{Backend, Platform, TestServer, Who, authed, everyone_registered, ideation, nl, ts};
use tonic::Code;
use tonic::transport::Channel;

async fn get(
    replica: &ProjectsClient<Channel>,
    id: &str,
    who: &Who,
) -> Result<proto::Project, tonic::Status> {
    replica
        .clone()
        .get_project(authed(
            proto::GetProjectRequest { id: id.to_owned() },
            &who.token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Reads `id` on `replica` until `shown` holds, and fails unless it does
/// within `max_age` (plus a margin for a busy machine) of `since` — with a
/// max age of 0, on the first read. Returns what was shown and when.
async fn until_shown(
    replica: &ProjectsClient<Channel>,
    id: &str,
    who: &Who,
    max_age: std::time::Duration,
    since: Instant,
    shown: impl Fn(&Result<proto::Project, tonic::Status>) -> bool,
) -> (Result<proto::Project, tonic::Status>, std::time::Duration) {
    let margin = std::time::Duration::from_millis(500);
    loop {
        let read = get(replica, id, who).await;
        let after = since.elapsed();
        if shown(&read) {
            return (read, after);
        }
        assert!(
            !max_age.is_zero() && after < max_age + margin,
            "not shown after {after:?} (max age {max_age:?}): {read:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn phase_titles(project: &proto::Project) -> Vec<String> {
    project
        .phases
        .iter()
        .map(|phase| {
            phase
                .title
                .as_ref()
                .and_then(|t| t.text.get("nl").cloned())
                .unwrap_or_default()
        })
        .collect()
}

async fn replicas_agree_within_the_max_age(backend: Backend, max_age: std::time::Duration) {
    let settings = || ProjectsSettings {
        view_max_age: max_age,
        ..ProjectsSettings::defaults()
    };
    let platform = Platform::start_with(backend, settings()).await;
    let second = TestServer::start(
        ProjectsService::new(settings()),
        &platform.database,
        &platform.shared,
    )
    .await;
    let (one, two) = (
        platform.client(),
        ProjectsClient::new(second.channel.clone()),
    );
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let newcomer = platform.person(&[], &["public-space"]);
    let project = platform.project(&admin, &manager, 1, Some(30)).await;
    let id = project.id.as_str();

    // Both replicas read (and keep) the project as it is.
    let before = get(&two, id, &admin).await.expect("read on replica two");
    assert_eq!(phase_titles(&before), vec!["Ideeën".to_owned()]);
    assert_eq!(get(&two, id, &admin).await.expect("read again"), before);
    assert_eq!(
        get(&one, id, &admin).await.expect("read on replica one"),
        before
    );
    let status = get(&two, id, &newcomer)
        .await
        .expect_err("a draft is hidden from someone outside its team");
    assert_eq!(status.code(), Code::NotFound);

    // A phase added on replica one: replica one shows it at once, replica
    // two within the max age.
    let with_phase = one
        .clone()
        .create_phase(authed(
            proto::CreatePhaseRequest {
                project_id: id.to_owned(),
                phase: Some(proto::Phase {
                    title: Some(nl("Stemmen")),
                    starts_at: Some(ts(platform.now() + Duration::days(31))),
                    ends_at: Some(ts(platform.now() + Duration::days(40))),
                    method: Some(ideation()),
                    permissions: Some(everyone_registered()),
                    ..Default::default()
                }),
            },
            &manager.token,
        ))
        .await
        .expect("a phase is added on replica one")
        .into_inner();
    let changed = Instant::now();
    assert_eq!(
        get(&one, id, &admin).await.expect("read on replica one"),
        with_phase,
        "the replica that changed it shows it at once"
    );
    let (seen, phase_after) = until_shown(&two, id, &admin, max_age, changed, |read| {
        read.as_ref().is_ok_and(|p| p == &with_phase)
    })
    .await;
    assert_eq!(
        phase_titles(&seen.expect("read")),
        vec!["Ideeën", "Stemmen"]
    );

    // So does a milestone.
    let with_milestone = one
        .clone()
        .set_milestone(authed(
            proto::SetMilestoneRequest {
                project_id: id.to_owned(),
                milestone: Some(proto::Milestone {
                    id: String::new(),
                    title: Some(nl("Bewonersavond")),
                    at: Some(ts(platform.now() + Duration::days(10))),
                }),
            },
            &manager.token,
        ))
        .await
        .expect("a milestone is set on replica one")
        .into_inner();
    let changed = Instant::now();
    assert_eq!(get(&one, id, &admin).await.expect("read"), with_milestone);
    let (seen, milestone_after) = until_shown(&two, id, &admin, max_age, changed, |read| {
        read.as_ref().is_ok_and(|p| p == &with_milestone)
    })
    .await;
    assert_eq!(seen.expect("read").milestones.len(), 1);

    // A new team: the newcomer sees the draft on replica two, the manager
    // who left no longer does.
    one.clone()
        .set_project_team(authed(
            proto::SetProjectTeamRequest {
                project_id: id.to_owned(),
                team: Some(proto::Team {
                    manager_ids: vec![newcomer.id.clone()],
                    communication_contact_id: String::new(),
                }),
            },
            &admin.token,
        ))
        .await
        .expect("the team is changed on replica one");
    let changed = Instant::now();
    let status = get(&one, id, &manager)
        .await
        .expect_err("replica one hides the draft from the manager who left at once");
    assert_eq!(status.code(), Code::NotFound);
    let (seen, team_after) =
        until_shown(&two, id, &newcomer, max_age, changed, Result::is_ok).await;
    assert_eq!(
        seen.expect("the new manager sees the draft on replica two")
            .team
            .map(|t| t.manager_ids),
        Some(vec![newcomer.id.clone()])
    );
    let (_, left_after) = until_shown(&two, id, &manager, max_age, changed, |read| {
        read.as_ref().is_err_and(|s| s.code() == Code::NotFound)
    })
    .await;
    println!(
        "{backend:?}, max age {max_age:?}: replica two showed the phase after {phase_after:?}, \
         the milestone after {milestone_after:?}, the new team after {team_after:?}, \
         hid the draft from the manager who left after {left_after:?}"
    );

    second.stop().await;
}

async fn a_replica_shows_what_another_changed_at_once_without_kept_rows(backend: Backend) {
    replicas_agree_within_the_max_age(backend, std::time::Duration::ZERO).await;
}

async fn a_replica_shows_what_another_changed_within_the_default_max_age(backend: Backend) {
    replicas_agree_within_the_max_age(
        backend,
        inspraak_projects::views::PartsCache::DEFAULT_MAX_AGE,
    )
    .await;
}

inspraak_host::on_both_databases!(
    a_replica_shows_what_another_changed_at_once_without_kept_rows,
    a_replica_shows_what_another_changed_within_the_default_max_age,
);
