//! The runtime's gRPC server: health means something, reflection lists what
//! is served.

#[allow(dead_code)] // each test binary uses part of the support module
mod support;

use inspraak_kit::grpc::Condition;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

async fn status(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> ServingStatus {
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health check")
        .into_inner();
    ServingStatus::try_from(response.status).expect("known status")
}

#[tokio::test]
async fn readiness_waits_for_migrations_database_and_broker() {
    let running = support::start("probe").await;
    let mut health = HealthClient::new(support::channel(running.addr).await);

    assert_eq!(
        status(&mut health, "").await,
        ServingStatus::Serving,
        "liveness"
    );
    assert_eq!(
        status(&mut health, "probe").await,
        ServingStatus::NotServing
    );

    running.readiness.set(Condition::Database, true).await;
    running.readiness.set(Condition::Broker, true).await;
    assert_eq!(
        status(&mut health, "probe").await,
        ServingStatus::NotServing,
        "migrations not run yet"
    );
    running.readiness.set(Condition::Migrated, true).await;
    assert_eq!(
        status(&mut health, "probe").await,
        ServingStatus::NotServing,
        "start-up work not done yet"
    );
    running.readiness.set(Condition::Prepared, true).await;
    assert_eq!(status(&mut health, "probe").await, ServingStatus::Serving);

    // The broker connection drops: not ready, still alive.
    running.readiness.set(Condition::Broker, false).await;
    assert_eq!(
        status(&mut health, "probe").await,
        ServingStatus::NotServing
    );
    assert_eq!(status(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(running.readiness.unmet(), vec![Condition::Broker]);

    running.shutdown.cancel();
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn reflection_lists_the_services_served() {
    let running = support::start("probe").await;
    let mut reflection = ServerReflectionClient::new(support::channel(running.addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        ["grpc.health.v1.Health", "inspraak.testing.v1.Probe"]
    );

    // v1alpha answers too (older grpcurl versions use it).
    use tonic_reflection::pb::v1alpha as alpha;
    let mut old = alpha::server_reflection_client::ServerReflectionClient::new(
        support::channel(running.addr).await,
    );
    let mut responses = old
        .server_reflection_info(tokio_stream::iter(vec![alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        }]))
        .await
        .unwrap()
        .into_inner();
    assert!(responses.message().await.unwrap().is_some());

    running.shutdown.cancel();
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let running = support::start("probe").await;
    let mut health = HealthClient::new(support::channel(running.addr).await);
    let huge = "x".repeat(5 << 20);
    let error = health
        .check(HealthCheckRequest { service: huge })
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::OutOfRange, "{error:?}");
    running.shutdown.cancel();
    running.serving.await.unwrap().unwrap();
}
