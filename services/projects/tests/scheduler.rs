//! Time-driven events happen once each, with two instances running and
//! across a restart, driven by the clock.

mod support;

use std::time::Duration as StdDuration;

use chrono::Duration;

use inspraak_projects::{ProjectsService, ProjectsSettings, scheduler};
use inspraak_proto::projects::v1 as proto;
use support::{Backend, Platform, TestServer, authed};

async fn count(platform: &Platform, event_type: &str) -> usize {
    platform
        .shared
        .wait_for_events(event_type, usize::MAX, StdDuration::from_millis(500))
        .await
        .len()
}

async fn phase_events_happen_once_across_instances_and_restarts(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let project = platform.project(&admin, &manager, 1, Some(5)).await;
    platform
        .client()
        .publish_project(authed(
            proto::PublishProjectRequest {
                id: project.id.clone(),
            },
            &admin.token,
        ))
        .await
        .unwrap();
    // A second instance on the same database: a replica.
    let replica = TestServer::start(
        ProjectsService::new(ProjectsSettings::defaults()),
        &platform.database,
        &platform.shared,
    )
    .await;
    let service = ProjectsService::new(ProjectsSettings::defaults());
    let first = service.state(&platform.server.running.context);
    let second = service.state(&replica.running.context);

    // Nothing is due yet.
    let (a, b) = tokio::join!(scheduler::tick(&first), scheduler::tick(&second));
    assert_eq!(a.unwrap() + b.unwrap(), 0);

    // The phase starts: both instances tick at once, ten times.
    platform.shared.clock.advance(Duration::days(2)).unwrap();
    for _ in 0..10 {
        let (a, b) = tokio::join!(scheduler::tick(&first), scheduler::tick(&second));
        a.unwrap();
        b.unwrap();
    }
    // Ending soon (48 h before the end) and the end.
    platform.shared.clock.advance(Duration::days(2)).unwrap();
    let (a, b) = tokio::join!(scheduler::tick(&first), scheduler::tick(&second));
    a.unwrap();
    b.unwrap();
    replica.stop().await;

    // A restart: a new instance on the same database, after the end.
    platform.shared.clock.advance(Duration::days(2)).unwrap();
    let restarted = TestServer::start(
        ProjectsService::new(ProjectsSettings::defaults()),
        &platform.database,
        &platform.shared,
    )
    .await;
    let third = service.state(&restarted.running.context);
    for _ in 0..3 {
        let (a, b) = tokio::join!(scheduler::tick(&first), scheduler::tick(&third));
        a.unwrap();
        b.unwrap();
    }

    let started = count(&platform, "projects.phase.started.v1").await;
    let ending = count(&platform, "projects.phase.ending_soon.v1").await;
    let ended = count(&platform, "projects.phase.ended.v1").await;
    println!(
        "{backend:?}: phase started {started}, ending soon {ending}, ended {ended} (each once expected)"
    );
    assert_eq!((started, ending, ended), (1, 1, 1));
    restarted.stop().await;
}

inspraak_host::on_both_databases!(phase_events_happen_once_across_instances_and_restarts);
