//! Every metric name a dashboard query or an alert rule reads is one that
//! the running services export: the services run here (contributions,
//! notifications, projects, a bus consumer), do the work that makes each
//! metric appear, and the Prometheus text they serve is checked against the
//! names in `deploy/grafana/dashboards/*.json` and
//! `deploy/prometheus/alerts.yaml`. This binary holds one test: it installs
//! the process's meter provider.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration as StdDuration, Instant};

use inspraak_bus::{EventHandler, HandlerError};
use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_notifications::settings::{MailTransport, SmtpSecurity};
use inspraak_notifications::{NotificationsService, NotificationsSettings};
use inspraak_projects::{ProjectsService, ProjectsSettings};
use inspraak_proto::contributions::v1 as contributions;
use inspraak_proto::contributions::v1::answers_client::AnswersClient;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use sea_orm::DatabaseTransaction;

async fn publish<M: prost::Name>(shared: &Shared, event_type: &str, payload: &M) {
    let envelope = events::Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.to_owned(),
        producer: "test".to_owned(),
        aggregate_type: "test".to_owned(),
        aggregate_id: uuid::Uuid::now_v7().to_string(),
        aggregate_version: 1,
        payload: Some(prost_types::Any {
            type_url: M::type_url(),
            value: payload.encode_to_vec(),
        }),
        ..Default::default()
    };
    shared.publish(&envelope).await;
}

/// Fails each event once, then takes it: a retry, as a database hiccup
/// would cause.
struct FailsOnce(std::sync::Mutex<BTreeSet<String>>);

impl EventHandler for FailsOnce {
    async fn handle(
        &self,
        _txn: &DatabaseTransaction,
        event: &events::Envelope,
    ) -> Result<(), HandlerError> {
        let first = self
            .0
            .lock()
            .expect("the set")
            .insert(event.event_id.clone());
        if first {
            Err(HandlerError::Retry("the first attempt fails".to_owned()))
        } else {
            Ok(())
        }
    }
}

/// The metric names in PromQL `text` (labels left out).
fn names_in(text: &str) -> BTreeSet<String> {
    const LABELS: [&str; 5] = [
        "rpc_method",
        "rpc_system_name",
        "rpc_status_code",
        "db_operation_name",
        "db_system_name",
    ];
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_');
        if starts && bytes[i].is_ascii_lowercase() {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == '_') {
                j += 1;
            }
            let word: String = bytes[i..j].iter().collect();
            if ["rpc_", "inspraak_", "db_"]
                .iter()
                .any(|p| word.starts_with(p))
                && !LABELS.contains(&word.as_str())
            {
                let base = word
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_count")
                    .to_owned();
                names.insert(base);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_read_only_exported_metrics() {
    inspraak_kit::telemetry::install_metrics(None).expect("the meter provider");
    let shared = Shared::new().await;
    let databases = (
        TestDatabase::sqlite(),
        TestDatabase::sqlite(),
        TestDatabase::sqlite(),
    );
    let projects_server = TestServer::start(
        ProjectsService::new(ProjectsSettings::defaults()),
        &databases.0,
        &shared,
    )
    .await;
    let contributions = ContributionsService::new(ContributionsSettings::defaults());
    let contributions_server = TestServer::start(
        ContributionsService::new(ContributionsSettings::defaults()),
        &databases.1,
        &shared,
    )
    .await;
    // Mail to a port nobody listens on, one attempt: a failed delivery.
    let mut mail = NotificationsSettings::to_directory(std::env::temp_dir());
    mail.transport = MailTransport::Smtp {
        host: "127.0.0.1".to_owned(),
        port: 1,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        timeout: StdDuration::from_secs(2),
    };
    mail.max_attempts = 1;
    mail.poll_interval = StdDuration::from_millis(50);
    let notifications_server =
        TestServer::start(NotificationsService::new(mail), &databases.2, &shared).await;
    let context = &contributions_server.running.context;
    context
        .bus
        .consumer(
            context.db.clone(),
            inspraak_contributions::projection::PURPOSE,
            inspraak_contributions::projection::BINDINGS,
            inspraak_contributions::projection::ProjectProjection,
        )
        .declare()
        .await
        .expect("the projection queue");
    let flaky = context.bus.consumer(
        context.db.clone(),
        "flaky",
        &["test.flaky"],
        FailsOnce(std::sync::Mutex::new(BTreeSet::new())),
    );
    flaky.declare().await.expect("the flaky queue");
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(flaky.run(stop.clone()));

    let (author, commenter, manager) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    publish(
        &shared,
        "identity.user.registered.v1",
        &events::UserRegistered {
            user_id: author.clone(),
            email: "author@city.example".to_owned(),
            locale: "en".to_owned(),
            ..Default::default()
        },
    )
    .await;
    let now = shared.clock.now();
    let ts = |at: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    };
    let registered = projects::Permission::Registered as i32;
    let project = projects::Project {
        id: uuid::Uuid::now_v7().to_string(),
        state: projects::ProjectState::Published as i32,
        visibility: projects::Visibility::Public as i32,
        team: Some(projects::Team {
            manager_ids: vec![manager.clone()],
            communication_contact_id: String::new(),
        }),
        phases: vec![projects::Phase {
            id: uuid::Uuid::now_v7().to_string(),
            starts_at: Some(ts(now - chrono::Duration::days(1))),
            ends_at: Some(ts(now + chrono::Duration::days(60))),
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
        }],
        ..Default::default()
    };
    publish(
        &shared,
        "projects.project.published.v1",
        &events::ProjectChanged {
            project: Some(project.clone()),
        },
    )
    .await;
    // An event contributions can never read: dead-lettered.
    publish(
        &shared,
        "projects.project.published.v1",
        &events::UserDeleted::default(),
    )
    .await;
    publish(&shared, "test.flaky", &events::UserDeleted::default()).await;

    let token = |id: &str| {
        shared.keys.sign(
            &shared
                .keys
                .claims(PrincipalKind::Person, id, &[], shared.clock.now()),
        )
    };
    let mut inputs = ContributionsClient::new(contributions_server.channel.clone());
    let request = contributions::CreateInputRequest {
        project_id: project.id.clone(),
        phase_id: project.phases[0].id.clone(),
        title: "More trees".to_owned(),
        body: "Along the canal".to_owned(),
        ..Default::default()
    };
    let deadline = Instant::now() + StdDuration::from_secs(20);
    let input = loop {
        match inputs
            .create_input(authed(request.clone(), &token(&author)))
            .await
        {
            Ok(created) => break created.into_inner(),
            Err(status) => {
                assert!(
                    Instant::now() < deadline,
                    "the projection never caught up: {status:?}"
                );
                tokio::time::sleep(StdDuration::from_millis(50)).await;
            }
        }
    };
    DiscussionClient::new(contributions_server.channel.clone())
        .post_comment(authed(
            contributions::PostCommentRequest {
                input_id: input.id.clone(),
                body: "Yes".to_owned(),
                ..Default::default()
            },
            &token(&commenter),
        ))
        .await
        .expect("a comment");
    let second = inputs
        .create_input(authed(
            contributions::CreateInputRequest {
                title: "Benches".to_owned(),
                ..request.clone()
            },
            &token(&author),
        ))
        .await
        .expect("a second input")
        .into_inner();
    AnswersClient::new(contributions_server.channel.clone())
        .publish_feedback(authed(
            contributions::PublishFeedbackRequest {
                input_id: second.id.clone(),
                body: HashMap::from([("en".to_owned(), "Thanks".to_owned())]),
                signed_by: "Parks".to_owned(),
                status: 0,
            },
            &token(&manager),
        ))
        .await
        .expect("feedback");
    shared
        .clock
        .advance(chrono::Duration::days(20))
        .expect("a manual clock");
    inspraak_contributions::deadlines::scan(&contributions.state(context))
        .await
        .expect("the deadline scan");

    // Every name the dashboards and rules read, once the work shows.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut wanted = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("deploy/grafana/dashboards")).expect("the dashboards")
    {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("a dashboard");
            let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
            for panel in dashboard["panels"].as_array().expect("panels") {
                for target in panel["targets"].as_array().expect("targets") {
                    wanted.extend(names_in(target["expr"].as_str().expect("an expression")));
                }
            }
        }
    }
    let rules =
        std::fs::read_to_string(root.join("deploy/prometheus/alerts.yaml")).expect("the rules");
    for line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if !line.contains("description:") && !line.contains("summary:") {
            wanted.extend(names_in(line));
        }
    }
    assert!(wanted.len() >= 15, "{wanted:?}");
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let text = inspraak_kit::telemetry::prometheus_text().expect("the metrics");
        let exported: BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(|n| {
                n.trim_end_matches("_bucket")
                    .trim_end_matches("_count")
                    .trim_end_matches("_sum")
                    .to_owned()
            })
            .collect();
        let missing: Vec<&String> = wanted.difference(&exported).collect();
        if missing.is_empty() {
            println!(
                "{} names read by dashboards and alerts, all exported: {wanted:?}",
                wanted.len()
            );
            break;
        }
        assert!(Instant::now() < deadline, "not exported: {missing:?}");
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    stop.cancel();
    notifications_server.stop().await;
    contributions_server.stop().await;
    projects_server.stop().await;
}
