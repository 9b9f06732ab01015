//! The broker connection cut five times while residents post inputs and
//! react through contributions' gRPC API: no call fails because the broker is
//! away (the outbox takes the events in the writes' transactions), and once
//! the line is back every event has exactly one effect downstream.
//!
//! Contributions and a downstream consumer (`inspraak_tests::downstream`)
//! reach RabbitMQ through a fault-injecting proxy; each cut closes their
//! connections and refuses new ones for a while, so the relay's confirms and
//! the consumer's acks are lost mid-flight and redeliveries follow.
//!
//! `INSPRAAK_SOAK=1` writes ten times as much through twenty cuts.

use std::time::Duration;

use inspraak_host::testing::Shared;
use inspraak_kit::testing::{TestDatabase, amqp_url};
use inspraak_tests::contributions::{
    Paced, joined, open_project, spawn_paced_writers, start_for_faults,
};
use inspraak_tests::downstream::Downstream;
use inspraak_tests::proxy::{FaultProxy, upstream_of};

const DEADLINE: Duration = Duration::from_secs(10);
const WRITERS: usize = 5;

/// How much is written, and how often the line is cut while it is.
struct Profile {
    /// Inputs and reactions written, half each.
    writes: usize,
    cuts: usize,
    /// How long each cut lasts, and how long the line is up between cuts.
    down: Duration,
    up: Duration,
}

impl Profile {
    fn from_env() -> Self {
        if std::env::var("INSPRAAK_SOAK").is_ok_and(|v| v == "1") {
            Self {
                writes: 5_000,
                cuts: 20,
                down: Duration::from_secs(2),
                up: Duration::from_secs(2),
            }
        } else {
            Self {
                writes: 500,
                cuts: 5,
                down: Duration::from_millis(800),
                up: Duration::from_millis(800),
            }
        }
    }

    /// The cuts' whole schedule, which the writes are spread over.
    fn span(&self) -> Duration {
        (self.down + self.up) * u32::try_from(self.cuts).unwrap_or(u32::MAX)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_cuts_while_writing_lose_and_duplicate_nothing() {
    let profile = Profile::from_env();
    let upstream = upstream_of(&amqp_url())
        .await
        .expect("the test RabbitMQ's address");
    let proxy = FaultProxy::start(upstream)
        .await
        .expect("the proxy listens");
    let proxied = proxy.rewrite(&amqp_url());
    let shared = Shared::rabbitmq_via(proxied.clone()).await;
    let (exchange, prefix) = shared.rabbit_names().expect("on RabbitMQ");
    let (exchange, prefix) = (exchange.to_owned(), prefix.to_owned());

    let downstream = Downstream::start(&proxied, &prefix, &exchange).await;

    let database = TestDatabase::postgres().await;
    let (server, contributions_queues) = start_for_faults(&database, &shared).await;
    let project = open_project(&server, &shared).await;
    let connections_before = proxy.connections();

    // The writers, spread over the cuts' schedule, and the cuts.
    let paced = Paced::spread(profile.writes, WRITERS, profile.span(), DEADLINE);
    let started = paced.started;
    let writers = spawn_paced_writers(WRITERS, &server.channel, &project, &shared, paced);
    let mut cut_times = Vec::new();
    // Live connections each cut closed.
    let mut severed = Vec::new();
    for _ in 0..profile.cuts {
        tokio::time::sleep(profile.up).await;
        let before = proxy.severed();
        proxy.cut();
        cut_times.push(started.elapsed());
        tokio::time::sleep(profile.down).await;
        severed.push(proxy.severed() - before);
        proxy.restore();
    }
    let written = joined(writers).await;
    let writing_took = started.elapsed();

    let within = Duration::from_secs(if profile.writes > 1_000 { 300 } else { 60 });
    let tally = downstream
        .settle_after_reactions_window(&shared.clock, &written, within)
        .await;

    println!(
        "broker cuts: {}, events {}, lost {}, duplicated {} ({} inputs and {} reactions written \
         in {:.1}s, no call failed: {}; {} reconnections through the proxy, connections \
         each cut closed: {:?})",
        cut_times.len(),
        tally.events,
        tally.lost,
        tally.duplicated,
        written.inputs.len(),
        written.reactions,
        writing_took.as_secs_f64(),
        written.failures.is_empty(),
        proxy.connections() - connections_before,
        severed,
    );

    downstream
        .explain_loss(&tally, &database.connect().await)
        .await;
    written.assert_all_acknowledged(paced.iterations * WRITERS, "the broker was away");
    assert_eq!(cut_times.len(), profile.cuts);
    let last_cut = cut_times.last().copied().unwrap_or_default();
    assert!(
        writing_took > last_cut,
        "the writes ended ({writing_took:?}) before the last cut ({last_cut:?})"
    );
    // Every cut hit live connections (a client still backing off from the
    // previous cut may sit one out, so not necessarily both clients').
    assert!(
        severed.iter().all(|&n| n > 0),
        "connections each cut closed: {severed:?}"
    );
    assert!(proxy.connections() - connections_before >= profile.cuts as u64);
    tally.assert_each_applied_once(&written);

    server.stop().await;
    let mut queues = contributions_queues;
    queues.extend(downstream.queues());
    downstream.stop().await;
    inspraak_bus::testing::delete_rabbit_objects(&amqp_url(), &exchange, &queues).await;
    shared.cleanup(&[]).await;
    drop(proxy);
}
