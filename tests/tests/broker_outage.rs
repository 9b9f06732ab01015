//! The broker connection cut five times while residents post inputs and
//! react through contributions' gRPC API: no call fails because the broker is
//! away (the outbox takes the events in the writes' transactions), and once
//! the line is back every event has exactly one effect downstream.
//!
//! Contributions and a downstream consumer (the bus's own consumer, with its
//! inbox, on a PostgreSQL database of its own) reach RabbitMQ through a
//! fault-injecting proxy; each cut closes their connections and refuses new
//! ones for a while, so the relay's confirms and the consumer's acks are lost
//! mid-flight and redeliveries follow. The consumer records one row per
//! event it applies, in the transaction that records the event in its inbox:
//! an event applied twice shows as two rows, an event lost as none. What must
//! arrive is known exactly: one `contributions.input.created.v1` per input
//! acknowledged, and per input a `contributions.reactions.changed.v1` whose
//! latest counts hold every reaction acknowledged.
//!
//! `INSPRAAK_SOAK=1` writes ten times as much through twenty cuts.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use inspraak_bus::migration::CreateOutboxAndInbox;
use inspraak_bus::{BrokerUrl, Bus, BusSettings, EventHandler, HandlerError};
use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer};
use inspraak_kit::testing::{TestDatabase, amqp_url};
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::contributions::v1::{CreateInputRequest, ReactRequest, ReactionDirection};
use inspraak_proto::events::v1::{Envelope, ReactionsChanged};
use inspraak_tests::contributions::{OpenProject, open_project, request, resident_token};
use inspraak_tests::proxy::{FaultProxy, upstream_of};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const CREATED: &str = "contributions.input.created.v1";
const REACTIONS: &str = "contributions.reactions.changed.v1";
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
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

    // Downstream: a consumer of every contributions event, with its inbox.
    let downstream_database = TestDatabase::postgres().await;
    let downstream_db = downstream_database.connect().await;
    inspraak_kit::db::migrate::<DownstreamMigrator>(&downstream_db)
        .await
        .expect("the downstream's inbox");
    downstream_db
        .execute_unprepared(
            "CREATE TABLE effects (event_id TEXT NOT NULL, event_type TEXT NOT NULL, \
             aggregate_id TEXT NOT NULL, aggregate_version BIGINT NOT NULL, up BIGINT NOT NULL)",
        )
        .await
        .expect("the effects table");
    let mut bus_settings =
        BusSettings::for_tests(BrokerUrl::Amqp(proxied.clone()), &prefix, &exchange);
    // Retries outlast a cut: an event must not be dead-lettered because the
    // line was down.
    bus_settings.consumer.max_attempts = 20;
    let downstream = Bus::open("downstream", bus_settings)
        .await
        .expect("the downstream's bus");
    let consumer = downstream.consumer(
        downstream_db.clone(),
        "effects",
        &["contributions.#"],
        Effects,
    );
    consumer.declare().await.expect("the downstream's queue");
    let stop_downstream = CancellationToken::new();
    tokio::spawn(consumer.run(stop_downstream.clone()));

    let database = TestDatabase::postgres().await;
    let settings = ContributionsSettings {
        // Residents here post far faster than people do.
        inputs_per_minute: 10_000,
        ..ContributionsSettings::defaults()
    };
    let server = TestServer::start_with(
        ContributionsService::new(settings),
        &database,
        &shared,
        // Reconnections back off no longer than a cut lasts.
        &[("BUS_MAX_BACKOFF", "1s"), ("OUTBOX_POLL_INTERVAL", "200ms")],
    )
    .await;
    let contributions_queues = {
        let bus = &server.running.context.bus;
        vec![
            bus.queue_name(inspraak_contributions::projection::PURPOSE),
            bus.queue_name("people"),
            bus.dead_letter_queue(),
        ]
    };
    let project = open_project(&server, &shared).await;
    let connections_before = proxy.connections();

    // The writers, spread over the cuts' schedule, and the cuts.
    let started = Instant::now();
    let iterations = profile.writes / 2 / WRITERS;
    let pace = profile.span() / u32::try_from(iterations).unwrap_or(u32::MAX);
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (channel, project, shared) =
                (server.channel.clone(), project.clone(), shared.clone());
            tokio::spawn(async move {
                write(&channel, &project, &shared, iterations, started, pace).await
            })
        })
        .collect();
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
    let mut written = Written::default();
    for writer in writers {
        written.merge(writer.await.expect("a writer"));
    }
    let writing_took = started.elapsed();

    // Reactions are announced once their window has passed on the clock.
    shared
        .clock
        .advance(chrono::Duration::seconds(60))
        .expect("a manual clock");
    let within = Duration::from_secs(if profile.writes > 1_000 { 300 } else { 60 });
    let deadline = Instant::now() + within;
    let mut tally;
    loop {
        tally = Tally::read(&downstream_db, &written).await;
        if tally.lost == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give redeliveries in flight the chance to (wrongly) apply twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tally = Tally::read(&downstream_db, &written).await;

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

    if tally.lost > 0 {
        let contributions_db = database.connect().await;
        let outbox = contributions_db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM outbox",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get::<i64>("", "n").ok());
        let queued = downstream
            .broker()
            .peek(&downstream.queue_name("effects"), 0)
            .await
            .map(|(_, total)| total);
        println!(
            "after the wait: {outbox:?} events in contributions' outbox, {queued:?} in the downstream's queue"
        );
    }
    assert!(
        written.failures.is_empty(),
        "calls failed while the broker was away: {:?}",
        &written.failures[..written.failures.len().min(10)]
    );
    assert_eq!(written.inputs.len(), iterations * WRITERS);
    assert_eq!(written.reactions, iterations * WRITERS);
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
    assert_eq!(
        tally.lost, 0,
        "events without their effect: {:?}",
        tally.missing
    );
    assert_eq!(tally.duplicated, 0, "events applied more than once");
    assert!(tally.events >= 2 * written.inputs.len());

    server.stop().await;
    stop_downstream.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut queues = contributions_queues;
    queues.push(downstream.queue_name("effects"));
    queues.push(downstream.dead_letter_queue());
    inspraak_bus::testing::delete_rabbit_objects(&amqp_url(), &exchange, &queues).await;
    shared.cleanup(&[]).await;
    drop(proxy);
}

// --- writing ---------------------------------------------------------------

#[derive(Default)]
struct Written {
    /// Input id → reactions acknowledged on it.
    inputs: HashMap<String, i64>,
    reactions: usize,
    failures: Vec<tonic::Status>,
}

impl Written {
    fn merge(&mut self, other: Self) {
        self.inputs.extend(other.inputs);
        self.reactions += other.reactions;
        self.failures.extend(other.failures);
    }
}

/// One writer: `iterations` times, a resident posts an input and another
/// reacts on it, the `k`-th time not before `started + k * pace`.
async fn write(
    channel: &Channel,
    project: &OpenProject,
    shared: &Shared,
    iterations: usize,
    started: Instant,
    pace: Duration,
) -> Written {
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
                DEADLINE,
            ))
            .await;
        let input = match created {
            Ok(input) => input.into_inner().id,
            Err(status) => {
                written.failures.push(status);
                continue;
            }
        };
        written.inputs.insert(input.clone(), 0);
        let reacted = discussion
            .react(request(
                ReactRequest {
                    input_id: input.clone(),
                    direction: ReactionDirection::Up as i32,
                },
                &resident_token(shared),
                DEADLINE,
            ))
            .await;
        match reacted {
            Ok(_) => {
                written.reactions += 1;
                *written.inputs.entry(input).or_default() += 1;
            }
            Err(status) => written.failures.push(status),
        }
    }
    written
}

// --- downstream --------------------------------------------------------------

struct DownstreamMigrator;

impl MigratorTrait for DownstreamMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateOutboxAndInbox)]
    }
}

/// Records one row per event applied, in the consumer's transaction.
struct Effects;

impl EventHandler for Effects {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let up = if event.r#type == REACTIONS {
            let payload = event
                .payload
                .as_ref()
                .ok_or_else(|| HandlerError::Reject("no payload".to_owned()))?;
            ReactionsChanged::decode(payload.value.as_slice())
                .map_err(|e| HandlerError::Reject(format!("reactions payload: {e}")))?
                .up
        } else {
            0
        };
        let version = i64::try_from(event.aggregate_version).unwrap_or(i64::MAX);
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO effects (event_id, event_type, aggregate_id, aggregate_version, up) \
             VALUES ($1, $2, $3, $4, $5)",
            [
                event.event_id.clone().into(),
                event.r#type.clone().into(),
                event.aggregate_id.clone().into(),
                version.into(),
                up.into(),
            ],
        ))
        .await?;
        Ok(())
    }
}

/// What arrived downstream, against what was written.
struct Tally {
    /// Distinct events applied.
    events: usize,
    /// Effects beyond one per event.
    duplicated: usize,
    /// Inputs without their creation's effect, and reactions the latest
    /// counts do not hold.
    lost: usize,
    missing: Vec<String>,
}

impl Tally {
    async fn read(db: &DatabaseConnection, written: &Written) -> Self {
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT event_id, event_type, aggregate_id, aggregate_version, up FROM effects",
            ))
            .await
            .expect("read the effects");
        let mut ids = HashSet::new();
        let mut created = HashSet::new();
        // Input → (version, up) of its latest reactions event.
        let mut latest: HashMap<String, (i64, i64)> = HashMap::new();
        for row in &rows {
            let get = |column: &str| -> String { row.try_get("", column).expect("a column") };
            ids.insert(get("event_id"));
            let aggregate = get("aggregate_id");
            match get("event_type").as_str() {
                CREATED => {
                    created.insert(aggregate);
                }
                REACTIONS => {
                    let version: i64 = row.try_get("", "aggregate_version").expect("a version");
                    let up: i64 = row.try_get("", "up").expect("a count");
                    let entry = latest.entry(aggregate).or_insert((version, up));
                    if version > entry.0 {
                        *entry = (version, up);
                    }
                }
                _ => {}
            }
        }
        let mut lost = 0;
        let mut missing = Vec::new();
        for (input, reactions) in &written.inputs {
            if !created.contains(input) {
                lost += 1;
                missing.push(format!("{CREATED} of {input}"));
            }
            let announced = latest.get(input).map_or(0, |(_, up)| *up);
            if announced < *reactions {
                lost += usize::try_from(reactions - announced).unwrap_or(0);
                missing.push(format!("{REACTIONS} of {input}"));
            }
        }
        missing.truncate(10);
        Self {
            events: ids.len(),
            duplicated: rows.len() - ids.len(),
            lost,
            missing,
        }
    }
}
