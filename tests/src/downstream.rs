//! A downstream service for the fault tests: the bus's own consumer, with its
//! inbox on a PostgreSQL database of its own, subscribed to every
//! contributions event. It records one row per event it applies, in the
//! transaction that records the event in its inbox: an event applied twice
//! shows as two rows, an event lost as none.
//!
//! What must arrive is known exactly from what the writers were told:
//! one `contributions.input.created.v1` per input acknowledged, and per
//! input a `contributions.reactions.changed.v1` whose latest counts hold
//! every reaction acknowledged.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use inspraak_bus::migration::CreateOutboxAndInbox;
use inspraak_bus::{BrokerUrl, Bus, BusSettings, EventHandler, HandlerError};
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::events::v1::{Envelope, ReactionsChanged};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio_util::sync::CancellationToken;

const CREATED: &str = "contributions.input.created.v1";
const REACTIONS: &str = "contributions.reactions.changed.v1";
const QUEUE: &str = "effects";

/// The downstream consumer, running until [`Downstream::stop`].
pub struct Downstream {
    pub db: DatabaseConnection,
    pub bus: Bus,
    _database: TestDatabase,
    stop: CancellationToken,
}

impl Downstream {
    /// Subscribes to `exchange` through `bus_url`, with queues under
    /// `prefix`; the queue exists when this returns.
    pub async fn start(bus_url: &str, prefix: &str, exchange: &str) -> Self {
        let database = TestDatabase::postgres().await;
        let db = database.connect().await;
        inspraak_kit::db::migrate::<DownstreamMigrator>(&db)
            .await
            .expect("the downstream's inbox");
        db.execute_unprepared(
            "CREATE TABLE effects (event_id TEXT NOT NULL, event_type TEXT NOT NULL, \
             aggregate_id TEXT NOT NULL, aggregate_version BIGINT NOT NULL, up BIGINT NOT NULL)",
        )
        .await
        .expect("the effects table");
        let mut settings =
            BusSettings::for_tests(BrokerUrl::Amqp(bus_url.to_owned()), prefix, exchange);
        // Retries outlast a fault: an event must not be dead-lettered
        // because the line was down.
        settings.consumer.max_attempts = 20;
        let bus = Bus::open("downstream", settings)
            .await
            .expect("the downstream's bus");
        let consumer = bus.consumer(db.clone(), QUEUE, &["contributions.#"], Effects);
        consumer.declare().await.expect("the downstream's queue");
        let stop = CancellationToken::new();
        tokio::spawn(consumer.run(stop.clone()));
        Self {
            db,
            bus,
            _database: database,
            stop,
        }
    }

    /// What arrived, once nothing is missing or `within` has passed, plus
    /// two seconds for redeliveries in flight to (wrongly) apply twice.
    pub async fn settle(&self, written: &Written, within: Duration) -> Tally {
        let deadline = Instant::now() + within;
        loop {
            let tally = Tally::read(&self.db, written).await;
            if tally.lost == 0 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        Tally::read(&self.db, written).await
    }

    /// [`Self::settle`] once the reactions' announcement window has passed
    /// on `clock` (contributions announces reactions per window).
    pub async fn settle_after_reactions_window(
        &self,
        clock: &inspraak_kit::Clock,
        written: &Written,
        within: Duration,
    ) -> Tally {
        clock
            .advance(chrono::Duration::seconds(60))
            .expect("a manual clock");
        self.settle(written, within).await
    }

    /// Messages waiting in the downstream's queue: tells a consumer that
    /// stopped consuming from a relay that stopped publishing.
    pub async fn queued(&self) -> Option<u64> {
        self.bus
            .broker()
            .peek(&self.bus.queue_name(QUEUE), 0)
            .await
            .map(|(_, total)| total)
            .ok()
    }

    /// The broker queues it declared, for the test's cleanup.
    /// When events were lost: where they are (still in the writer's
    /// outbox, or queued for this consumer), printed for the reader.
    pub async fn explain_loss(&self, tally: &Tally, writer_db: &DatabaseConnection) {
        if tally.lost > 0 {
            let outbox = outbox_rows(writer_db).await;
            let queued = self.queued().await;
            println!(
                "after the wait: {outbox:?} events in contributions' outbox, \
                 {queued:?} in the downstream's queue"
            );
        }
    }

    pub fn queues(&self) -> Vec<String> {
        vec![self.bus.queue_name(QUEUE), self.bus.dead_letter_queue()]
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows left in a service's outbox: events not yet confirmed by the broker.
pub async fn outbox_rows(db: &DatabaseConnection) -> Option<i64> {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) AS n FROM outbox",
    ))
    .await
    .ok()
    .flatten()
    .and_then(|row| row.try_get::<i64>("", "n").ok())
}

/// What the writers were told was stored.
#[derive(Default)]
pub struct Written {
    /// Input id → reactions acknowledged on it.
    pub inputs: HashMap<String, i64>,
    pub reactions: usize,
    /// Calls that ended in an error (and were not retried to success).
    pub failures: Vec<tonic::Status>,
}

impl Written {
    /// Every call of `writers`, each meant to write `each` inputs and as many
    /// reactions, succeeded (`why` says what the calls went through).
    pub fn assert_all_acknowledged(&self, each: usize, why: &str) {
        assert!(
            self.failures.is_empty(),
            "calls failed while {why}: {:?}",
            &self.failures[..self.failures.len().min(10)]
        );
        assert_eq!(self.inputs.len(), each, "inputs acknowledged");
        assert_eq!(self.reactions, each, "reactions acknowledged");
    }

    pub fn merge(&mut self, other: Self) {
        self.inputs.extend(other.inputs);
        self.reactions += other.reactions;
        self.failures.extend(other.failures);
    }

    pub fn input(&mut self, id: String) {
        self.inputs.entry(id).or_insert(0);
    }

    pub fn reaction(&mut self, input: String) {
        self.reactions += 1;
        *self.inputs.entry(input).or_default() += 1;
    }
}

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
pub struct Tally {
    /// Distinct events applied.
    pub events: usize,
    /// Effects beyond one per event.
    pub duplicated: usize,
    /// Inputs without their creation's effect, and reactions the latest
    /// counts do not hold.
    pub lost: usize,
    pub missing: Vec<String>,
    /// Inputs created that no writer was told of: a retried write stored
    /// twice.
    pub extra: usize,
}

impl Tally {
    /// Every event the writes caused had exactly one effect, and no input
    /// was stored that no writer was told of.
    pub fn assert_each_applied_once(&self, written: &Written) {
        assert_eq!(
            self.lost, 0,
            "events without their effect: {:?}",
            self.missing
        );
        assert_eq!(self.duplicated, 0, "events applied more than once");
        assert_eq!(self.extra, 0, "inputs stored that no writer was told of");
        assert!(self.events >= 2 * written.inputs.len());
    }

    async fn read(db: &DatabaseConnection, written: &Written) -> Self {
        let query = Statement::from_string(
            DbBackend::Postgres,
            "SELECT event_id, event_type, aggregate_id, aggregate_version, up FROM effects",
        );
        // The test's own read, on a machine the test keeps busy: a moment
        // without a pooled connection is not the platform's fault.
        let mut attempts = 0;
        let rows = loop {
            attempts += 1;
            match db.query_all_raw(query.clone()).await {
                Ok(rows) => break rows,
                Err(error) if attempts < 5 => {
                    eprintln!("reading the effects (attempt {attempts}): {error}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => panic!("read the effects: {error}"),
            }
        };
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
        let extra = created
            .iter()
            .filter(|input| !written.inputs.contains_key(*input))
            .count();
        Self {
            events: ids.len(),
            duplicated: rows.len() - ids.len(),
            lost,
            missing,
            extra,
        }
    }
}
