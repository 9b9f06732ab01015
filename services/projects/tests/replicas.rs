//! Two replicas of projects on one database, as a deployment runs them: a
//! read from one replica shows at once what the other changed — phases,
//! milestones and team, which reads take from a cache keyed by the
//! project's version — and who may see a draft follows its team as soon as
//! the team changes. On PostgreSQL and on SQLite.

mod support;

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

async fn a_replica_shows_what_another_changed_at_once(backend: Backend) {
    let platform = Platform::start(backend).await;
    let second = TestServer::start(
        ProjectsService::new(ProjectsSettings::defaults()),
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

    // Replica two reads (and keeps) the project as it is.
    let before = get(&two, id, &admin).await.expect("read on replica two");
    assert_eq!(phase_titles(&before), vec!["Ideeën".to_owned()]);
    assert_eq!(get(&two, id, &admin).await.expect("read again"), before);
    let status = get(&two, id, &newcomer)
        .await
        .expect_err("a draft is hidden from someone outside its team");
    assert_eq!(status.code(), Code::NotFound);

    // A phase added on replica one shows on replica two.
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
    let seen = get(&two, id, &admin).await.expect("read on replica two");
    assert_eq!(seen, with_phase, "replica two shows the new phase");
    assert_eq!(phase_titles(&seen), vec!["Ideeën", "Stemmen"]);

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
    let seen = get(&two, id, &admin).await.expect("read on replica two");
    assert_eq!(seen.milestones.len(), 1);
    assert_eq!(seen, with_milestone);

    // A new team: the newcomer sees the draft on replica two at once, the
    // manager who left no longer does.
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
    let seen = get(&two, id, &newcomer)
        .await
        .expect("the new manager sees the draft on replica two");
    assert_eq!(
        seen.team.map(|t| t.manager_ids),
        Some(vec![newcomer.id.clone()])
    );
    let status = get(&two, id, &manager)
        .await
        .expect_err("the manager who left no longer sees the draft");
    assert_eq!(status.code(), Code::NotFound);

    second.stop().await;
}

inspraak_host::on_both_databases!(a_replica_shows_what_another_changed_at_once);
