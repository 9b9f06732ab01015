//! RabbitMQ itself restarted — killed with SIGKILL, or stopped in order —
//! while residents post inputs and react through contributions' gRPC API:
//! no call fails because the broker is down (the outbox takes the events in
//! the writes' transactions), and once it is back every event has exactly
//! one effect downstream.
//!
//! The broker is a node of the test's own (`inspraak_tests::rabbit_node`),
//! on its own ports and data directory, so that killing it disturbs no other
//! test. Its durable queues and the messages in them survive each restart,
//! as in production; what was in flight when it died is published or
//! delivered again, and must not count twice.
//!
//! Short profile (`make test`): 2 restarts (SIGKILL, then SIGTERM) under
//! 200 writes. `INSPRAAK_SOAK=1` (`make soak`): 5 restarts, every other one
//! SIGKILL, under 5,000 writes.

use std::time::{Duration, Instant};

use inspraak_host::testing::Shared;
use inspraak_kit::testing::TestDatabase;
use inspraak_tests::contributions::{
    Paced, joined, open_project, spawn_paced_writers, start_for_faults,
};
use inspraak_tests::downstream::Downstream;
use inspraak_tests::rabbit_node::{RabbitNode, Stop};

const DEADLINE: Duration = Duration::from_secs(10);
const WRITERS: usize = 5;

struct Profile {
    /// Inputs and reactions written, half each.
    writes: usize,
    /// How the broker is taken down, in turn.
    restarts: Vec<Stop>,
    /// How long the broker stays up between restarts.
    up: Duration,
}

impl Profile {
    fn from_env() -> Self {
        if std::env::var("INSPRAAK_SOAK").is_ok_and(|v| v == "1") {
            Self {
                writes: 5_000,
                restarts: vec![
                    Stop::Kill,
                    Stop::Terminate,
                    Stop::Kill,
                    Stop::Terminate,
                    Stop::Kill,
                ],
                up: Duration::from_secs(6),
            }
        } else {
            Self {
                writes: 200,
                restarts: vec![Stop::Kill, Stop::Terminate],
                up: Duration::from_secs(2),
            }
        }
    }
}

/// Runs blocking node control on the runtime without stalling its other
/// tasks (the writers and the services keep going meanwhile).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_killed_and_restarted_while_writing_loses_and_duplicates_nothing() {
    assert!(
        RabbitNode::available(),
        "rabbitmq-server is not installed (make test installs it)"
    );
    let profile = Profile::from_env();
    let mut node = blocking(RabbitNode::start);
    let url = node.url();
    let shared = Shared::rabbitmq_via(url.clone()).await;
    let (exchange, prefix) = shared.rabbit_names().expect("on RabbitMQ");
    let (exchange, prefix) = (exchange.to_owned(), prefix.to_owned());
    let downstream = Downstream::start(&url, &prefix, &exchange).await;
    let database = TestDatabase::postgres().await;
    let (server, _queues) = start_for_faults(&database, &shared).await;
    let project = open_project(&server, &shared).await;

    // The writers are paced to go on through every restart: a restart takes
    // several seconds here, so spread them over the ups and an estimate of
    // the downs, and let the last writes come after the last restart.
    let estimated_down = Duration::from_secs(20);
    let span =
        (profile.up + estimated_down) * u32::try_from(profile.restarts.len() + 1).unwrap_or(1);
    let paced = Paced::spread(profile.writes, WRITERS, span, DEADLINE);
    let started = paced.started;
    let writers = spawn_paced_writers(WRITERS, &server.channel, &project, &shared, paced);

    let mut downs = Vec::new();
    for how in &profile.restarts {
        tokio::time::sleep(profile.up).await;
        let went_down = Instant::now();
        blocking(|| node.stop(*how));
        blocking(|| node.start_again());
        downs.push(went_down.elapsed());
    }
    let last_restart = started.elapsed();
    let written = joined(writers).await;
    let writing_took = started.elapsed();

    let within = Duration::from_secs(if profile.writes > 1_000 { 300 } else { 120 });
    let tally = downstream
        .settle_after_reactions_window(&shared.clock, &written, within)
        .await;

    println!(
        "broker restarts: {} ({:?}), events {}, lost {}, duplicated {} ({} inputs and {} \
         reactions written in {:.1}s, no call failed: {}; broker down for {:?})",
        downs.len(),
        profile.restarts,
        tally.events,
        tally.lost,
        tally.duplicated,
        written.inputs.len(),
        written.reactions,
        writing_took.as_secs_f64(),
        written.failures.is_empty(),
        downs,
    );
    downstream
        .explain_loss(&tally, &database.connect().await)
        .await;
    written.assert_all_acknowledged(paced.iterations * WRITERS, "the broker was down");
    assert_eq!(downs.len(), profile.restarts.len());
    assert!(
        profile.restarts.contains(&Stop::Kill),
        "at least one restart is a SIGKILL"
    );
    assert!(
        writing_took > last_restart,
        "the writes ended ({writing_took:?}) before the last restart ({last_restart:?})"
    );
    tally.assert_each_applied_once(&written);

    server.stop().await;
    downstream.stop().await;
    // The node, its queues and its data directory go with it.
    blocking(move || drop(node));
}
