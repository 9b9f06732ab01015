//! Contributions follows projects through the bus alone: the real projects
//! service publishes a project, contributions' projection takes it in and
//! accepts input once the phase opens, and projects learns of the input.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_projects::{ProjectsService, ProjectsSettings};
use inspraak_proto::contributions::v1 as contributions;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::projects::v1 as projects;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use sea_orm::EntityTrait;
use tonic::Code;

fn token(shared: &Shared, id: &str, roles: &[&str], departments: &[&str]) -> String {
    let mut claims = shared
        .keys
        .claims(PrincipalKind::Person, id, roles, shared.clock.now());
    claims.departments = departments.iter().map(|d| (*d).to_owned()).collect();
    shared.keys.sign(&claims)
}

fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

fn nl(text: &str) -> projects::LocalizedText {
    projects::LocalizedText {
        text: [("nl".to_owned(), text.to_owned())].into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contributions_follows_the_projects_service() {
    let shared = Shared::new().await;
    let (projects_db, contributions_db) = (TestDatabase::sqlite(), TestDatabase::sqlite());
    let projects_server = TestServer::start(
        ProjectsService::new(ProjectsSettings::defaults()),
        &projects_db,
        &shared,
    )
    .await;
    let contributions_server = TestServer::start(
        ContributionsService::new(ContributionsSettings::defaults()),
        &contributions_db,
        &shared,
    )
    .await;
    let mut projects_client = ProjectsClient::new(projects_server.channel.clone());
    let mut contributions_client = ContributionsClient::new(contributions_server.channel.clone());
    let admin = uuid::Uuid::now_v7().to_string();
    let resident = uuid::Uuid::now_v7().to_string();
    let now = shared.clock.now();

    let proposal = projects_client
        .submit_proposal(authed(
            projects::SubmitProposalRequest {
                title: Some(nl("Een park")),
                goal: Some(nl("Meer groen in de wijk")),
                department_id: "public-space".to_owned(),
                intended_phases: vec![projects::IntendedPhase {
                    title: Some(nl("Ideeën")),
                    method: Some(projects::ParticipationMethod {
                        method: Some(projects::participation_method::Method::Ideation(
                            projects::Ideation { dislikes: false },
                        )),
                    }),
                    starts_at: Some(ts(now + Duration::days(1))),
                    ends_at: Some(ts(now + Duration::days(5))),
                }],
                communication_plan: None,
                request_id: String::new(),
            },
            &token(
                &shared,
                &uuid::Uuid::now_v7().to_string(),
                &[],
                &["public-space"],
            ),
        ))
        .await
        .expect("submit")
        .into_inner();
    let project = projects_client
        .review_proposal(authed(
            projects::ReviewProposalRequest {
                id: proposal.id,
                decision: projects::ReviewDecision::Approve as i32,
                reason: "past the core team".to_owned(),
                etag: String::new(),
            },
            &token(&shared, &admin, &["platform_admin"], &[]),
        ))
        .await
        .expect("approve")
        .into_inner()
        .project
        .expect("a draft project");
    projects_client
        .publish_project(authed(
            projects::PublishProjectRequest {
                id: project.id.clone(),
            },
            &token(&shared, &admin, &["platform_admin"], &[]),
        ))
        .await
        .expect("publish");

    let input = |title: &str| contributions::CreateInputRequest {
        project_id: project.id.clone(),
        phase_id: project.phases[0].id.clone(),
        title: title.to_owned(),
        body: "Meer bomen".to_owned(),
        ..Default::default()
    };
    // Until the publication arrives the project is unknown or a draft; then
    // the phase has not started.
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        let refused = contributions_client
            .create_input(authed(
                input("Te vroeg"),
                &token(&shared, &resident, &[], &[]),
            ))
            .await
            .expect_err("the phase has not started");
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        if refused.message().contains("has not started") {
            break;
        }
        assert!(Instant::now() < deadline, "never projected: {refused:?}");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }

    shared
        .clock
        .advance(Duration::days(2))
        .expect("a manual clock");
    let created = contributions_client
        .create_input(authed(
            input("Op tijd"),
            &token(&shared, &resident, &[], &[]),
        ))
        .await
        .expect("accepted in the open phase")
        .into_inner();
    assert_eq!(created.project_id, project.id);

    // projects hears of the input: from now on the project cannot go back
    // to draft.
    let id = uuid::Uuid::parse_str(&project.id).expect("a project id");
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        let stored = inspraak_projects::store::entities::projects::Entity::find_by_id(id)
            .one(&projects_server.running.context.db)
            .await
            .expect("read the project")
            .expect("the project exists");
        if stored.has_input {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "projects never heard of the input"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    contributions_server.stop().await;
    projects_server.stop().await;
}
