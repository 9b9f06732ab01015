//! Every service, started for real on PostgreSQL and RabbitMQ, answers
//! liveness at once and readiness only once its migrations ran and its
//! database and broker are reachable.

use std::time::Duration;

use inspraak_contributions::ContributionsService;
use inspraak_host::ServiceApp;
use inspraak_identity::IdentityService;
use inspraak_kit::grpc::Condition;
use inspraak_kit::testing::{TestDatabase, amqp_url};
use inspraak_notifications::{NotificationsService, NotificationsSettings};
use inspraak_projects::ProjectsService;
use inspraak_tests::{TestService, channel, health, wait_for_health};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

async fn listed_services(addr: std::net::SocketAddr) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("a message")
        .expect("not empty");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("unexpected reflection answer {answer:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    names
}

async fn becomes_ready<A: ServiceApp>(app: A, apis: &[&str]) {
    let service = TestService::start(app, TestDatabase::postgres().await, &amqp_url()).await;
    let addr = service.addr();
    assert_eq!(
        health(addr, "").await,
        ServingStatus::Serving,
        "liveness answers at once"
    );
    wait_for_health(
        addr,
        A::NAME,
        ServingStatus::Serving,
        Duration::from_secs(20),
    )
    .await;
    let mut expected = vec!["grpc.health.v1.Health", "inspraak.bus.v1.DeadLetters"];
    expected.extend_from_slice(apis);
    expected.sort();
    assert_eq!(listed_services(addr).await, expected);
    service.stop(&format!("{}.dlq", A::NAME)).await;
}

#[tokio::test]
async fn identity_becomes_ready() {
    becomes_ready(
        IdentityService::new(inspraak_identity::IdentitySettings::defaults()),
        &[
            "inspraak.identity.v1.Identity",
            "inspraak.identity.v1.SigningKeys",
        ],
    )
    .await;
}

#[tokio::test]
async fn projects_becomes_ready() {
    becomes_ready(projects(), &["inspraak.projects.v1.Projects"]).await;
}

#[tokio::test]
async fn contributions_becomes_ready() {
    becomes_ready(
        contributions(),
        &[
            "inspraak.contributions.v1.Answers",
            "inspraak.contributions.v1.Contributions",
            "inspraak.contributions.v1.Discussion",
            "inspraak.contributions.v1.Moderation",
            "inspraak.contributions.v1.Voting",
        ],
    )
    .await;
}

#[tokio::test]
async fn notifications_becomes_ready() {
    let mail = tempfile_dir();
    becomes_ready(
        NotificationsService::new(NotificationsSettings::to_directory(mail)),
        &["inspraak.notifications.v1.Notifications"],
    )
    .await;
}

/// The database does not exist yet and the broker is unreachable: alive, not
/// ready. Once the database appears, migrations run and only the broker is
/// missing.
#[tokio::test]
async fn readiness_waits_for_database_migrations_and_broker() {
    let missing = TestDatabase::postgres_pending();
    let unreachable_broker = "amqp://guest:guest@127.0.0.1:1/%2f";
    let service = TestService::start(projects(), missing, unreachable_broker).await;
    let addr = service.addr();

    assert_eq!(health(addr, "").await, ServingStatus::Serving);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(health(addr, "projects").await, ServingStatus::NotServing);
    let unmet = service.running.readiness.unmet();
    assert!(
        unmet.contains(&Condition::Migrated) && unmet.contains(&Condition::Broker),
        "{unmet:?}"
    );

    service.database.create().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while service.running.readiness.unmet() != [Condition::Broker] {
        assert!(
            std::time::Instant::now() < deadline,
            "migrations never ran: {:?}",
            service.running.readiness.unmet()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        health(addr, "projects").await,
        ServingStatus::NotServing,
        "still no broker"
    );
    service.stop("projects.dlq").await;
}

/// The broker drops the service's connection: the service stays up and comes
/// back to SERVING by itself once it has reconnected.
#[tokio::test]
async fn readiness_comes_back_after_the_broker_drops_the_connection() {
    let service =
        TestService::start(contributions(), TestDatabase::postgres().await, &amqp_url()).await;
    let addr = service.addr();
    wait_for_health(
        addr,
        "contributions",
        ServingStatus::Serving,
        Duration::from_secs(20),
    )
    .await;

    let mut connected = service.running.context.bus.broker().connected();
    inspraak_bus::testing::cut_broker_connections(&service.queue_prefix).await;
    // The connection loss is seen... as a change of state, not as the value
    // `false`: the service's consumers may reconnect before this task looks,
    // and a watch keeps only the latest value.
    tokio::time::timeout(Duration::from_secs(10), connected.changed())
        .await
        .expect("the lost connection is noticed")
        .expect("the broker handle lives");
    // ...and repaired without anyone calling.
    wait_for_health(
        addr,
        "contributions",
        ServingStatus::Serving,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(health(addr, "").await, ServingStatus::Serving);
    service.stop("contributions.dlq").await;
}

fn projects() -> ProjectsService {
    ProjectsService::new(inspraak_projects::ProjectsSettings::defaults())
}

fn contributions() -> ContributionsService {
    ContributionsService::new(inspraak_contributions::ContributionsSettings::defaults())
}

/// A directory of its own for a test's mail.
fn tempfile_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("inspraak-mail-{}", uuid::Uuid::now_v7()))
}
