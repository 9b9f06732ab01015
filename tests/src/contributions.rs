//! Contributions ready to take input: a public project with an open ideation
//! phase, announced as projects would announce it, and residents' tokens.

use std::time::{Duration, Instant};

use inspraak_contributions::projection::{BINDINGS, PURPOSE, ProjectProjection};
use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::contributions::v1::{
    CreateInputRequest, GetStatisticsRequest, ReactRequest, ReactionDirection, Statistics,
};
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use prost::Message;
use tonic::transport::Channel;

use crate::downstream::Written;

/// Contributions for the fault scenarios: residents post far faster than
/// people do (no flood limit in the way), and its bus reconnects within a
/// second and polls its outbox often. Returns the server and the queues it
/// declared, for the test's cleanup.
pub async fn start_for_faults(
    database: &TestDatabase,
    shared: &Shared,
) -> (TestServer, Vec<String>) {
    let settings = ContributionsSettings {
        inputs_per_minute: 10_000,
        ..ContributionsSettings::defaults()
    };
    let server = TestServer::start_with(
        ContributionsService::new(settings),
        database,
        shared,
        &[("BUS_MAX_BACKOFF", "1s"), ("OUTBOX_POLL_INTERVAL", "200ms")],
    )
    .await;
    let bus = &server.running.context.bus;
    let queues = vec![
        bus.queue_name(PURPOSE),
        bus.queue_name("people"),
        bus.dead_letter_queue(),
    ];
    (server, queues)
}

/// The project inputs are posted on.
#[derive(Debug, Clone)]
pub struct OpenProject {
    pub project_id: String,
    pub phase_id: String,
}

/// Publishes a published public project with an ideation phase open since
/// yesterday, as projects' relay would, and waits until contributions
/// answers for it.
pub async fn open_project(server: &TestServer, shared: &Shared) -> OpenProject {
    // The projection's queue, declared as the service declares it, so that
    // the event cannot reach the broker before the queue exists.
    let context = &server.running.context;
    context
        .bus
        .consumer(context.db.clone(), PURPOSE, BINDINGS, ProjectProjection)
        .declare()
        .await
        .expect("the projection's queue");

    let now = shared.clock.now();
    let registered = projects::Permission::Registered as i32;
    let phase = projects::Phase {
        id: uuid::Uuid::now_v7().to_string(),
        starts_at: Some(timestamp(now - chrono::Duration::days(1))),
        method: Some(projects::ParticipationMethod {
            method: Some(projects::participation_method::Method::Ideation(
                projects::Ideation { dislikes: false },
            )),
        }),
        permissions: Some(projects::ActionPermissions {
            post: registered,
            comment: registered,
            react: registered,
            vote: registered,
        }),
        ..Default::default()
    };
    let project = projects::Project {
        id: uuid::Uuid::now_v7().to_string(),
        state: projects::ProjectState::Published as i32,
        visibility: projects::Visibility::Public as i32,
        team: Some(projects::Team {
            manager_ids: vec![uuid::Uuid::now_v7().to_string()],
            communication_contact_id: String::new(),
        }),
        phases: vec![phase.clone()],
        ..Default::default()
    };
    let envelope = events::Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: "projects.project.published.v1".to_owned(),
        occurred_at: Some(timestamp(now)),
        producer: "projects".to_owned(),
        aggregate_type: "project".to_owned(),
        aggregate_id: project.id.clone(),
        aggregate_version: 1,
        payload: Some(prost_types::Any {
            type_url: <events::ProjectChanged as prost::Name>::type_url(),
            value: events::ProjectChanged {
                project: Some(project.clone()),
            }
            .encode_to_vec(),
        }),
        ..Default::default()
    };
    shared.publish(&envelope).await;

    let open = OpenProject {
        project_id: project.id,
        phase_id: phase.id,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while statistics(&server.channel, &open).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "contributions never learnt of the project"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    open
}

/// The project's figures, as anyone may read them.
pub async fn statistics(
    channel: &Channel,
    project: &OpenProject,
) -> Result<Statistics, tonic::Status> {
    let mut request = tonic::Request::new(GetStatisticsRequest {
        project_id: project.project_id.clone(),
        phase_id: String::new(),
    });
    request.set_timeout(Duration::from_secs(5));
    ContributionsClient::new(channel.clone())
        .get_statistics(request)
        .await
        .map(tonic::Response::into_inner)
}

/// A new resident's bearer token.
pub fn resident_token(shared: &Shared) -> String {
    let subject = uuid::Uuid::now_v7().to_string();
    let claims = shared
        .keys
        .claims(PrincipalKind::Person, &subject, &[], shared.clock.now());
    shared.keys.sign(&claims)
}

/// `message` with `token` as bearer and `timeout` as its deadline.
pub fn request<T>(message: T, token: &str, timeout: Duration) -> tonic::Request<T> {
    let mut request = authed(message, token);
    request.set_timeout(timeout);
    request
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// How a fault scenario's writers write: `iterations` times each, the
/// `k`-th not before `started + k * pace`, every call with `deadline`.
#[derive(Debug, Clone, Copy)]
pub struct Paced {
    pub iterations: usize,
    pub started: Instant,
    pub pace: Duration,
    pub deadline: Duration,
}

impl Paced {
    /// `writes` calls (an input and a reaction per iteration) by `writers`
    /// writers, starting now and spread evenly over `span`.
    pub fn spread(writes: usize, writers: usize, span: Duration, deadline: Duration) -> Self {
        let iterations = writes / 2 / writers;
        Self {
            iterations,
            started: Instant::now(),
            pace: span / u32::try_from(iterations).unwrap_or(u32::MAX),
            deadline,
        }
    }
}

/// `count` writers (see [`write_paced`]) started at once; [`joined`]
/// gathers what they wrote.
pub fn spawn_paced_writers(
    count: usize,
    channel: &Channel,
    project: &OpenProject,
    shared: &Shared,
    paced: Paced,
) -> Vec<tokio::task::JoinHandle<Written>> {
    (0..count)
        .map(|_| {
            let (channel, project, shared) = (channel.clone(), project.clone(), shared.clone());
            tokio::spawn(async move { write_paced(&channel, &project, &shared, paced).await })
        })
        .collect()
}

/// What the writers wrote, once they all finished.
pub async fn joined(writers: Vec<tokio::task::JoinHandle<Written>>) -> Written {
    let mut written = Written::default();
    for writer in writers {
        written.merge(writer.await.expect("a writer"));
    }
    written
}

/// One writer of the fault scenarios: `paced.iterations` times, a resident
/// posts an input and another reacts on it, as `paced` says. Every failure
/// is kept.
pub async fn write_paced(
    channel: &Channel,
    project: &OpenProject,
    shared: &Shared,
    paced: Paced,
) -> Written {
    let Paced {
        iterations,
        started,
        pace,
        deadline,
    } = paced;
    let mut contributions = ContributionsClient::new(channel.clone());
    let mut discussion = DiscussionClient::new(channel.clone());
    let author = resident_token(shared);
    let mut written = Written::default();
    for k in 0..iterations {
        let at = started + pace * u32::try_from(k).unwrap_or(u32::MAX);
        tokio::time::sleep_until(at.into()).await;
        let created = contributions
            .create_input(request(
                CreateInputRequest {
                    project_id: project.project_id.clone(),
                    phase_id: project.phase_id.clone(),
                    title: format!("Idea {k}"),
                    body: "A bench by the canal.".to_owned(),
                    request_id: uuid::Uuid::now_v7().to_string(),
                    ..Default::default()
                },
                &author,
                deadline,
            ))
            .await;
        let input = match created {
            Ok(input) => input.into_inner().id,
            Err(status) => {
                written.failures.push(status);
                continue;
            }
        };
        written.input(input.clone());
        let reacted = discussion
            .react(request(
                ReactRequest {
                    input_id: input.clone(),
                    direction: ReactionDirection::Up as i32,
                },
                &resident_token(shared),
                deadline,
            ))
            .await;
        match reacted {
            Ok(_) => written.reaction(input),
            Err(status) => written.failures.push(status),
        }
    }
    written
}
