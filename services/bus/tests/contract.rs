//! The bus's contract, written once and run against both brokers: RabbitMQ
//! with PostgreSQL (production), and the embedded broker with SQLite (the
//! embedded platform).
//!
//! Each scenario counts effects in a table the handler writes in the same
//! transaction as the inbox row: an event applied twice would show as two
//! rows, an event never applied as none.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use inspraak_bus::broker::{Broker, Headers, Outgoing, Target};
use inspraak_bus::migration::CreateOutboxAndInbox;
use inspraak_bus::{BrokerUrl, Bus, BusSettings, EventHandler, HandlerError, NewEvent};
use inspraak_kit::auth::{Principal, PrincipalKind};
use inspraak_kit::testing::{TestDatabase, amqp_url, unique};
use inspraak_proto::bus::v1::dead_letters_server::DeadLetters;
use inspraak_proto::bus::v1::{
    ListDeadLettersRequest, ListDeadLettersResponse, ReplayDeadLettersRequest,
};
use inspraak_proto::events::v1::Envelope;
use prost::Message;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr};
use sea_orm_migration::prelude::*;
use tokio_util::sync::CancellationToken;

// --- the fixture -----------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Flavour {
    /// RabbitMQ and PostgreSQL.
    Rabbit,
    /// The embedded broker and SQLite.
    Embedded,
}

struct CreateEffects;

impl MigrationName for CreateEffects {
    fn name(&self) -> &str {
        "m9000_test_effects"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEffects {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("effects"))
                    .col(ColumnDef::new(Alias::new("event_id")).string().not_null())
                    // The PostgreSQL transaction that applied it (null on
                    // SQLite, which has no transaction ids).
                    .col(ColumnDef::new(Alias::new("txn")).big_integer().null())
                    .to_owned(),
            )
            .await
    }
}

struct TestMigrator;

impl MigratorTrait for TestMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateOutboxAndInbox), Box::new(CreateEffects)]
    }
}

struct Fixture {
    flavour: Flavour,
    bus: Bus,
    db: DatabaseConnection,
    shutdown: CancellationToken,
    prefix: String,
    exchange: String,
    _database: TestDatabase,
    _broker_store: Option<TestDatabase>,
}

impl Fixture {
    async fn new(flavour: Flavour, max_attempts: u32) -> Self {
        let prefix = unique("test_");
        let exchange = unique("inspraak.events.test_");
        let (database, broker_store, url) = match flavour {
            Flavour::Rabbit => (
                TestDatabase::postgres().await,
                None,
                BrokerUrl::Amqp(amqp_url()),
            ),
            Flavour::Embedded => {
                let store = TestDatabase::sqlite();
                let url = BrokerUrl::Embedded(store.url.clone());
                (TestDatabase::sqlite(), Some(store), url)
            }
        };
        let db = database.connect().await;
        inspraak_kit::db::migrate::<TestMigrator>(&db)
            .await
            .expect("migrations");
        let mut settings = BusSettings::for_tests(url, &prefix, &exchange);
        settings.consumer.max_attempts = max_attempts;
        let bus = Bus::open("testsvc", settings).await.expect("bus");
        Self {
            flavour,
            bus,
            db,
            shutdown: CancellationToken::new(),
            prefix,
            exchange,
            _database: database,
            _broker_store: broker_store,
        }
    }

    /// Starts the relay and a consumer of `testsvc.#` with `handler`.
    async fn start<H: EventHandler>(&self, handler: H) {
        let consumer = self
            .bus
            .consumer(self.db.clone(), "events", &["testsvc.#"], handler);
        // The queue exists before anything is published, as in a deployment
        // where consumers start before producers publish.
        consumer.declare().await.expect("declare queue");
        tokio::spawn(consumer.run(self.shutdown.clone()));
        tokio::spawn(self.bus.relay(self.db.clone()).run(self.shutdown.clone()));
    }

    async fn write_events(&self, count: usize, per_txn: usize, aggregate: &str) -> Vec<String> {
        write_events(&self.bus, &self.db, count, per_txn, aggregate).await
    }

    /// (distinct events applied, total effect rows)
    async fn effects(&self) -> (u64, u64) {
        let stmt = Query::select()
            .expr_as(
                Expr::cust("COUNT(DISTINCT event_id)"),
                Alias::new("distinct_events"),
            )
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("effects"))
            .from(Alias::new("effects"))
            .to_owned();
        let row = self.db.query_one(&stmt).await.unwrap().unwrap();
        let distinct: i64 = row.try_get("", "distinct_events").unwrap();
        let total: i64 = row.try_get("", "effects").unwrap();
        (distinct as u64, total as u64)
    }

    /// The distinct PostgreSQL transactions that applied the events.
    async fn applying_transactions(&self) -> i64 {
        self.count("COUNT(DISTINCT txn)", "effects").await
    }

    /// `aggregate` (an SQL expression) over `table`.
    async fn count(&self, aggregate: &'static str, table: &str) -> i64 {
        self.db
            .query_one(
                &Query::select()
                    .expr_as(Expr::cust(aggregate), Alias::new("n"))
                    .from(Alias::new(table))
                    .to_owned(),
            )
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
    }

    /// The first ten dead letters, as an admin lists them.
    async fn listed_dead_letters(&self) -> ListDeadLettersResponse {
        self.bus
            .dead_letters_service()
            .list_dead_letters(admin(ListDeadLettersRequest { page_size: 10 }))
            .await
            .unwrap()
            .into_inner()
    }

    async fn wait_for_dead_letters(&self, count: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.dead_letter_count().await < count {
            assert!(
                Instant::now() < deadline,
                "{count} events never reached the dead-letter queue"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn outbox_rows(&self) -> i64 {
        self.count("COUNT(*)", "outbox").await
    }

    async fn applied_ids(&self) -> HashSet<String> {
        let stmt = Query::select()
            .column(Alias::new("event_id"))
            .from(Alias::new("effects"))
            .to_owned();
        self.db
            .query_all(&stmt)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.try_get::<String>("", "event_id").unwrap())
            .collect()
    }

    async fn wait_for_effects(&self, distinct: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (seen, _) = self.effects().await;
            if seen >= distinct {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {seen} of {distinct} events applied in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Forcibly cuts the service's broker connections, as a broker restart
    /// or a network fault would.
    async fn cut_connections(&self) {
        match (self.flavour, self.bus.broker()) {
            (Flavour::Embedded, Broker::Embedded(embedded)) => embedded.disconnect_all(),
            (Flavour::Rabbit, _) => {
                inspraak_bus::testing::cut_broker_connections(&self.prefix).await
            }
            _ => unreachable!("fixture flavour and broker disagree"),
        }
    }

    async fn dead_letter_count(&self) -> u64 {
        self.bus
            .broker()
            .peek(&self.bus.dead_letter_queue(), 1000)
            .await
            .unwrap()
            .1
    }

    async fn cleanup(self) {
        self.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Flavour::Rabbit = self.flavour {
            inspraak_bus::testing::delete_rabbit_objects(
                &amqp_url(),
                &self.exchange,
                &[self.bus.queue_name("events"), self.bus.dead_letter_queue()],
            )
            .await;
        }
    }
}

/// Writes `count` events through the outbox, `per_txn` per transaction, and
/// returns their ids.
async fn write_events(
    bus: &Bus,
    db: &DatabaseConnection,
    count: usize,
    per_txn: usize,
    aggregate: &str,
) -> Vec<String> {
    let outbox = bus.outbox();
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(per_txn) {
        let txn = inspraak_kit::db::begin_write(db).await.unwrap();
        for i in chunk {
            let event = NewEvent::new(
                "testsvc.thing.happened.v1".parse().unwrap(),
                "thing",
                aggregate,
                *i as u64 + 1,
                chrono::Utc::now(),
                &prost_types::Duration {
                    seconds: *i as i64,
                    nanos: 0,
                },
            );
            ids.push(outbox.write(&txn, event).await.unwrap());
        }
        outbox.commit(txn).await.unwrap();
    }
    ids
}

/// Records each event it applies; fails events of the aggregate `poison`
/// until healed, and rejects those of the aggregate `reject` outright.
#[derive(Clone, Default)]
struct Recorder {
    healed: Arc<AtomicBool>,
    poison_attempts: Arc<AtomicU32>,
    rejected_attempts: Arc<AtomicU32>,
}

impl EventHandler for Recorder {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        if event.aggregate_id == "poison" && !self.healed.load(Ordering::SeqCst) {
            self.poison_attempts.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::Retry(
                "this event makes the handler fail".to_owned(),
            ));
        }
        if event.aggregate_id == "reject" {
            self.rejected_attempts.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::Reject(
                "this event cannot be understood".to_owned(),
            ));
        }
        let transaction = match txn.get_database_backend() {
            DbBackend::Postgres => Expr::cust("txid_current()"),
            _ => Expr::cust("NULL"),
        };
        let insert = Query::insert()
            .into_table(Alias::new("effects"))
            .columns([Alias::new("event_id"), Alias::new("txn")])
            .values_panic([event.event_id.clone().into(), transaction])
            .to_owned();
        txn.execute(&insert).await?;
        Ok(())
    }

    /// The events written as waiting are applied together when neighbours
    /// (through the default `handle_many`, one `handle` after another).
    fn joins(&self, event: &Envelope) -> bool {
        event.aggregate_id.starts_with("waiting")
    }
}

fn admin<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(Principal {
        kind: PrincipalKind::Person,
        subject: "admin".to_owned(),
        roles: [inspraak_kit::auth::PlatformRole::PlatformAdmin].into(),
        departments: Default::default(),
        token_id: "t".to_owned(),
        email_verified: true,
    });
    request
}

// --- the scenarios ---------------------------------------------------------

/// 10,000 events through the outbox while the broker connections are cut
/// twice: every event has exactly one effect.
async fn exactly_once_through_connection_cuts(flavour: Flavour) {
    const EVENTS: usize = 10_000;
    let fixture = Fixture::new(flavour, 5).await;
    fixture.start(Recorder::default()).await;

    let writer = {
        let (bus, db) = (fixture.bus.clone(), fixture.db.clone());
        tokio::spawn(async move { write_events(&bus, &db, EVENTS, 50, "steady").await })
    };
    let started = Instant::now();
    let mut cuts = 0;
    for threshold in [EVENTS as u64 / 4, EVENTS as u64 / 2] {
        while fixture.effects().await.0 < threshold {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "stalled before cut {}",
                cuts + 1
            );
        }
        fixture.cut_connections().await;
        cuts += 1;
    }
    let ids: HashSet<String> = writer.await.unwrap().into_iter().collect();
    assert_eq!(ids.len(), EVENTS);
    fixture
        .wait_for_effects(EVENTS as u64, Duration::from_secs(180))
        .await;
    // Give redeliveries in flight the chance to (wrongly) apply twice.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (distinct, total) = fixture.effects().await;
    let applied = fixture.applied_ids().await;
    let lost = ids.difference(&applied).count();
    let duplicated = total - distinct;
    println!(
        "{flavour:?}: {EVENTS} events, {cuts} connection cuts, {:.1}s: lost = {lost}, duplicated = {duplicated}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(cuts, 2);
    assert_eq!(lost, 0, "lost events");
    assert_eq!(duplicated, 0, "duplicated effects");
    assert_eq!(applied.len(), EVENTS, "effects for events nobody wrote");
    fixture.cleanup().await;
}

/// A handler that always fails sends its event to the dead-letter queue after
/// the configured attempts while the other events keep flowing; a replay
/// brings it back, and it is applied once.
async fn failing_events_are_dead_lettered_and_replayed(flavour: Flavour) {
    let fixture = Fixture::new(flavour, 3).await;
    let recorder = Recorder::default();
    fixture.start(recorder.clone()).await;

    let poison = fixture.write_events(1, 1, "poison").await;
    let good = fixture.write_events(50, 10, "healthy").await;
    fixture.wait_for_effects(50, Duration::from_secs(30)).await;

    fixture
        .wait_for_dead_letters(1, Duration::from_secs(30))
        .await;
    assert_eq!(
        recorder.poison_attempts.load(Ordering::SeqCst),
        3,
        "attempts before dead-lettering"
    );
    let applied = fixture.applied_ids().await;
    assert!(
        good.iter().all(|id| applied.contains(id)),
        "healthy events kept flowing"
    );
    assert!(!applied.contains(&poison[0]));

    let service = fixture.bus.dead_letters_service();
    let listed = fixture.listed_dead_letters().await;
    assert_eq!(listed.total, 1);
    let dead = &listed.dead_letters[0];
    assert_eq!(dead.event_id, poison[0]);
    assert_eq!(dead.event_type, "testsvc.thing.happened.v1");
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.queue, fixture.bus.queue_name("events"));
    assert!(
        dead.last_error.contains("makes the handler fail"),
        "{}",
        dead.last_error
    );
    // Listing does not consume.
    assert_eq!(fixture.dead_letter_count().await, 1);

    // Anyone but an admin or a service is refused.
    let resident = {
        let mut request = tonic::Request::new(ReplayDeadLettersRequest::default());
        request.extensions_mut().insert(Principal {
            kind: PrincipalKind::Person,
            subject: "resident".to_owned(),
            roles: Default::default(),
            departments: Default::default(),
            token_id: "t".to_owned(),
            email_verified: true,
        });
        request
    };
    assert_eq!(
        service
            .replay_dead_letters(resident)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    let anonymous = tonic::Request::new(ListDeadLettersRequest::default());
    assert_eq!(
        service
            .list_dead_letters(anonymous)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );

    recorder.healed.store(true, Ordering::SeqCst);
    let replayed = service
        .replay_dead_letters(admin(ReplayDeadLettersRequest {
            event_ids: vec![poison[0].clone()],
            limit: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed.replayed_event_ids, poison);
    fixture.wait_for_effects(51, Duration::from_secs(30)).await;
    assert_eq!(fixture.dead_letter_count().await, 0);
    let (distinct, total) = fixture.effects().await;
    assert_eq!((distinct, total), (51, 51));
    fixture.cleanup().await;
}

/// The same event delivered twice (as after a lost ack) has one effect.
async fn a_redelivered_event_has_no_second_effect(flavour: Flavour) {
    let fixture = Fixture::new(flavour, 3).await;
    fixture.start(Recorder::default()).await;
    let ids = fixture.write_events(1, 1, "once").await;
    fixture.wait_for_effects(1, Duration::from_secs(30)).await;

    // Publish the very same envelope again, straight to the broker.
    let envelope = Envelope {
        event_id: ids[0].clone(),
        r#type: "testsvc.thing.happened.v1".to_owned(),
        aggregate_id: "once".to_owned(),
        ..Default::default()
    };
    let again = Outgoing {
        target: Target::Events,
        routing_key: envelope.r#type.clone(),
        message_id: envelope.event_id.clone(),
        headers: Headers::new(),
        body: envelope.encode_to_vec(),
    };
    fixture
        .bus
        .broker()
        .publish_confirmed(&[again.clone(), again])
        .await
        .unwrap();
    // A marker event published after the duplicates: once it is applied, the
    // duplicates ahead of it in the queue have been handled.
    fixture.write_events(1, 1, "marker").await;
    fixture.wait_for_effects(2, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fixture.effects().await, (2, 2));
    fixture.cleanup().await;
}

/// Publishing to a routing key no queue is bound to does not make the
/// event vanish: it waits in the outbox (it may be early, before its
/// consumer's queue exists).
async fn unroutable_events_stay_in_the_outbox(flavour: Flavour) {
    let fixture = Fixture::new(flavour, 3).await;
    // No consumer: nothing is bound.
    fixture.write_events(3, 3, "nobody-listens").await;
    let relay = fixture.bus.relay(fixture.db.clone());
    assert_eq!(relay.publish_batch().await.unwrap(), 0, "nothing published");
    assert_eq!(
        fixture.outbox_rows().await,
        3,
        "the events wait in the outbox"
    );
    fixture.cleanup().await;
}

/// An event no queue is bound to does not hold back the events behind it;
/// still unroutable after the grace, it is dropped: no service consumes it.
async fn an_unroutable_event_holds_back_nothing(flavour: Flavour) {
    let mut fixture = Fixture::new(flavour, 3).await;
    let mut settings = fixture.bus.settings().clone();
    settings.relay.unrouted_grace = Duration::from_secs(2);
    fixture.bus = Bus::with_broker("testsvc", fixture.bus.broker().clone(), settings);
    // One transaction, so the unroutable event heads the relay's batch.
    let kinds = [
        ("othersvc.thing.happened.v1", 1),
        ("testsvc.thing.happened.v1", 1),
        ("testsvc.thing.happened.v1", 2),
        ("testsvc.thing.happened.v1", 3),
    ];
    write_kinds(&fixture, kinds, "behind").await;
    fixture.start(Recorder::default()).await;
    fixture.wait_for_effects(3, Duration::from_secs(10)).await;
    assert_eq!(fixture.effects().await, (3, 3));
    let deadline = Instant::now() + Duration::from_secs(15);
    while fixture.outbox_rows().await > 0 {
        assert!(
            Instant::now() < deadline,
            "the unroutable event is dropped after its grace"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fixture.cleanup().await;
}

/// However many unroutable events wait — more than a batch holds — the
/// events behind them go out at once, long before the unroutable ones'
/// grace ends.
async fn unroutable_events_beyond_a_batch_hold_back_nothing(flavour: Flavour) {
    let mut fixture = Fixture::new(flavour, 3).await;
    let mut settings = fixture.bus.settings().clone();
    settings.relay.batch_size = 2;
    settings.relay.unrouted_grace = Duration::from_secs(600);
    fixture.bus = Bus::with_broker("testsvc", fixture.bus.broker().clone(), settings);
    let kinds = (1..=5)
        .map(|i| ("othersvc.thing.happened.v1", i))
        .chain((1..=3).map(|i| ("testsvc.thing.happened.v1", i)));
    write_kinds(&fixture, kinds, "behind-many").await;
    fixture.start(Recorder::default()).await;
    fixture.wait_for_effects(3, Duration::from_secs(10)).await;
    assert_eq!(fixture.effects().await, (3, 3));
    assert_eq!(
        fixture.outbox_rows().await,
        5,
        "the unroutable events wait out their grace"
    );
    fixture.cleanup().await;
}

/// Writes one event per (type, version) to `aggregate`, all in one
/// transaction, in this order.
async fn write_kinds(
    fixture: &Fixture,
    kinds: impl IntoIterator<Item = (&'static str, u64)>,
    aggregate: &str,
) {
    let outbox = fixture.bus.outbox();
    let txn = inspraak_kit::db::begin_write(&fixture.db).await.unwrap();
    for (kind, version) in kinds {
        let event = NewEvent::new(
            kind.parse().unwrap(),
            "thing",
            aggregate,
            version,
            chrono::Utc::now(),
            &prost_types::Duration::default(),
        );
        outbox.write(&txn, event).await.unwrap();
    }
    outbox.commit(txn).await.unwrap();
}

/// The relay publishes right after a commit, not at its next poll: with a
/// poll interval of a minute, an event still arrives within seconds.
async fn a_commit_wakes_the_relay(flavour: Flavour) {
    let mut fixture = Fixture::new(flavour, 3).await;
    let mut settings = fixture.bus.settings().clone();
    settings.relay.poll_interval = Duration::from_secs(60);
    fixture.bus = Bus::with_broker("testsvc", fixture.bus.broker().clone(), settings);
    fixture.start(Recorder::default()).await;
    // Let the relay's first (empty) round pass, so it sleeps on its interval.
    tokio::time::sleep(Duration::from_millis(300)).await;
    fixture.write_events(1, 1, "prompt").await;
    fixture.wait_for_effects(1, Duration::from_secs(10)).await;
    fixture.cleanup().await;
}

/// Events already waiting when the consumer starts are applied several to a
/// transaction. An event that fails, or is rejected, in a batch is set apart
/// — retried and dead-lettered alone, its attempts counted as if it had been
/// alone — while every other event is applied exactly once; the same event
/// twice in the queue has one effect.
async fn a_failing_event_in_a_batch_holds_back_nothing(flavour: Flavour) {
    const HEALTHY: usize = 120;
    let mut fixture = Fixture::new(flavour, 3).await;
    // Two transactions at a time: deliveries arriving meanwhile are in hand
    // for the next.
    let mut settings = fixture.bus.settings().clone();
    settings.consumer.concurrency = 2;
    fixture.bus = Bus::with_broker("testsvc", fixture.bus.broker().clone(), settings);
    let recorder = Recorder::default();
    let kinds = (1..=HEALTHY as u64).map(|version| ("testsvc.thing.happened.v1", version));
    let first_third = kinds.clone().take(HEALTHY / 3);
    write_kinds(&fixture, first_third, "waiting").await;
    fixture.write_events(1, 1, "poison").await;
    write_kinds(
        &fixture,
        kinds.clone().skip(HEALTHY / 3).take(HEALTHY / 3),
        "waiting-2",
    )
    .await;
    fixture.write_events(1, 1, "reject").await;
    write_kinds(&fixture, kinds.skip(2 * HEALTHY / 3), "waiting-3").await;
    let consumer = fixture.bus.consumer(
        fixture.db.clone(),
        "events",
        &["testsvc.#"],
        recorder.clone(),
    );
    consumer.declare().await.expect("declare queue");
    // Everything into the queue before anyone consumes, one event twice.
    let relay = fixture.bus.relay(fixture.db.clone());
    let mut published = 0;
    while fixture.outbox_rows().await > 0 {
        published += relay.publish_batch().await.unwrap();
    }
    assert_eq!(published, HEALTHY + 2);
    assert!(
        fixture.applied_ids().await.is_empty(),
        "nothing consumed yet"
    );
    let again = fixture
        .bus
        .broker()
        .peek(&fixture.bus.queue_name("events"), 1)
        .await
        .unwrap()
        .0
        .remove(0);
    fixture
        .bus
        .broker()
        .publish_confirmed(&[Outgoing {
            target: Target::Events,
            routing_key: again.routing_key,
            message_id: again.message_id,
            headers: again.headers,
            body: again.body,
        }])
        .await
        .unwrap();

    tokio::spawn(consumer.run(fixture.shutdown.clone()));
    fixture
        .wait_for_effects(HEALTHY as u64, Duration::from_secs(60))
        .await;
    fixture
        .wait_for_dead_letters(2, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        fixture.effects().await,
        (HEALTHY as u64, HEALTHY as u64),
        "every healthy event applied once, the one published twice included"
    );
    assert_eq!(recorder.poison_attempts.load(Ordering::SeqCst), 3);
    assert_eq!(recorder.rejected_attempts.load(Ordering::SeqCst), 1);
    let mut dead: Vec<(String, u32)> = fixture
        .listed_dead_letters()
        .await
        .dead_letters
        .iter()
        .map(|d| (d.last_error.clone(), d.attempts))
        .collect();
    dead.sort();
    assert_eq!(
        dead,
        [
            ("this event cannot be understood".to_owned(), 1),
            ("this event makes the handler fail".to_owned(), 3),
        ]
    );
    if let Flavour::Rabbit = flavour {
        let transactions = fixture.applying_transactions().await;
        println!("{HEALTHY} events applied in {transactions} transactions");
        assert!(
            transactions < HEALTHY as i64 / 2,
            "events in hand share transactions: {transactions} for {HEALTHY}"
        );
    }
    fixture.cleanup().await;
}

/// With `batch` 1, every event has a transaction of its own.
async fn a_batch_of_one_is_a_transaction_per_event(flavour: Flavour) {
    const EVENTS: usize = 60;
    let mut fixture = Fixture::new(flavour, 3).await;
    let mut settings = fixture.bus.settings().clone();
    settings.consumer.batch = 1;
    fixture.bus = Bus::with_broker("testsvc", fixture.bus.broker().clone(), settings);
    fixture.write_events(EVENTS, EVENTS, "alone").await;
    fixture.start(Recorder::default()).await;
    fixture
        .wait_for_effects(EVENTS as u64, Duration::from_secs(30))
        .await;
    assert_eq!(fixture.effects().await, (EVENTS as u64, EVENTS as u64));
    if let Flavour::Rabbit = flavour {
        assert_eq!(fixture.applying_transactions().await, EVENTS as i64);
    }
    fixture.cleanup().await;
}

macro_rules! on_both_brokers {
    ($($scenario:ident),* $(,)?) => {
        mod rabbitmq_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Flavour::Rabbit).await;
                }
            )*
        }
        mod embedded_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Flavour::Embedded).await;
                }
            )*
        }
    };
}

on_both_brokers!(
    exactly_once_through_connection_cuts,
    failing_events_are_dead_lettered_and_replayed,
    a_redelivered_event_has_no_second_effect,
    unroutable_events_stay_in_the_outbox,
    an_unroutable_event_holds_back_nothing,
    unroutable_events_beyond_a_batch_hold_back_nothing,
    a_commit_wakes_the_relay,
    a_failing_event_in_a_batch_holds_back_nothing,
    a_batch_of_one_is_a_transaction_per_event,
);
