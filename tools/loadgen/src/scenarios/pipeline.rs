//! The event pipeline: contributions' outbox relay publishing to RabbitMQ,
//! and notifications' consumer applying each event in its transaction with
//! the inbox's dedupe, both on PostgreSQL.
//!
//! - Sustained rate (`pipeline_sustained`): a backlog of
//!   `contributions.input.created.v1` events is written into contributions'
//!   outbox in one transaction; from its commit the relay and the consumer
//!   drain it, timed until notifications has handled the last one — the
//!   relay plus a consumer with its inbox transaction, as the raw bus is
//!   publish plus consume. `pipeline_with_writes` times the same with the
//!   events written meanwhile (transactions of 500, one statement per
//!   event, as fast as the database takes them), the writers sharing the
//!   machine.
//! - Input to inbox: inputs created through the gRPC API at a constant
//!   rate; each is timed from its scheduled send time to the moment
//!   notifications handled its event. Notifications tells nobody about
//!   their own input (nobody is told about their own act), so the
//!   handling of the event — its inbox transaction, which records the
//!   input for the decision-makers' report — is where the input arrives.
//!   To read that moment, the benchmark adds a column to its own copy of
//!   `report_inputs` whose default is `clock_timestamp()`: set when the
//!   row is written inside the inbox transaction, a few statements before
//!   its commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::unlimited_posting;
use chrono::{DateTime, Utc};
use inspraak_bus::{NewEvent, Outbox};
use inspraak_contributions::ContributionsService;
use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_notifications::{NotificationsService, NotificationsSettings};
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::events::v1 as events;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::cpu::CpuProbe;
use crate::drive::{self, Operation, Sequence, Timing, operation, status};
use crate::report::{Errors, Latencies, Measured, Mode};
use crate::scenarios::writes::{CONTRIBUTIONS_QUEUES, create_request, seed};
use crate::servers::{ServerRuntime, connect, database_name, stop_capturing};

/// In the input-to-inbox load, one event in this many is an input created
/// through the gRPC API; the rest are written straight into the outbox.
/// Creating an input costs several times the CPU of handling its event, so
/// on a small machine the API alone cannot offer the pipeline its load.
const API_SHARE: u64 = 10;

/// Events written per outbox transaction in the sustained-rate step.
const WRITE_BATCH: usize = 500;

/// How a sustained measurement's events reach contributions' outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// All written in one transaction and committed before the clock
    /// starts: the relay and the consumer alone are timed, draining a
    /// backlog as fast as they can (`pipeline_sustained`, the stated
    /// figure: "the outbox relay plus a consumer with its inbox
    /// transaction").
    Backlog,
    /// Written while timed, one statement per event in transactions of
    /// [`WRITE_BATCH`], as fast as the database takes them: the writers'
    /// inserts share the machine with relay and consumer
    /// (`pipeline_with_writes`).
    Concurrent,
}

impl Writing {
    pub fn scenario(self) -> &'static str {
        match self {
            Self::Backlog => "pipeline_sustained",
            Self::Concurrent => "pipeline_with_writes",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Backlog => "committed before the clock starts",
            Self::Concurrent => "written while timed",
        }
    }
}

pub struct PipelineSetup {
    pub contributions_db: TestDatabase,
    pub notifications_db: TestDatabase,
    contributions: TestServer,
    notifications: TestServer,
    shared: Shared,
    channel: Channel,
    project: uuid::Uuid,
    phase: uuid::Uuid,
    tokens: Arc<Vec<String>>,
}

/// The bus's tuning variables set in the load generator's environment, passed
/// on to the services it starts (unset: the services' defaults), so a
/// setting can be compared with the default in the same way it is deployed.
fn bus_tuning() -> Vec<(&'static str, String)> {
    [
        "BUS_PREFETCH",
        "BUS_HANDLER_CONCURRENCY",
        "BUS_HANDLER_BATCH",
        "OUTBOX_BATCH_SIZE",
    ]
    .into_iter()
    .filter_map(|name| std::env::var(name).ok().map(|value| (name, value)))
    .collect()
}

/// When each created input was due to be sent, by input id.
type Scheduled = Arc<Mutex<HashMap<String, DateTime<Utc>>>>;

impl PipelineSetup {
    pub async fn start(runtime: &ServerRuntime) -> Result<Self, String> {
        let (contributions, notifications, contributions_db, notifications_db, shared) = runtime
            .run(async {
                let shared = Shared::rabbitmq().await;
                let notifications_db = TestDatabase::postgres().await;
                let mail =
                    std::env::temp_dir().join(inspraak_kit::testing::unique("loadgen-mail-"));
                let tuning = bus_tuning();
                let tuning: Vec<(&str, &str)> =
                    tuning.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let notifications = TestServer::start_with(
                    NotificationsService::new(NotificationsSettings::to_directory(mail)),
                    &notifications_db,
                    &shared,
                    &tuning,
                )
                .await;
                let contributions_db = TestDatabase::postgres().await;
                let contributions = TestServer::start_with(
                    ContributionsService::new(unlimited_posting()),
                    &contributions_db,
                    &shared,
                    &tuning,
                )
                .await;
                (
                    contributions,
                    notifications,
                    contributions_db,
                    notifications_db,
                    shared,
                )
            })
            .await?;
        stop_capturing(&shared).await?;
        notifications
            .running
            .context
            .db
            .execute_unprepared(
                "ALTER TABLE report_inputs ADD COLUMN loadgen_handled_at timestamptz DEFAULT clock_timestamp()",
            )
            .await
            .map_err(|e| format!("marking when notifications handles an input: {e}"))?;
        let (project, phase) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        seed(&contributions.running.context.db, project, phase, 1, 10).await?;
        let now = shared.clock.now();
        let tokens = (0..100)
            .map(|n| {
                shared.keys.sign(&shared.keys.claims(
                    PrincipalKind::Person,
                    &format!("pipeline-person-{n}"),
                    &[],
                    now,
                ))
            })
            .collect();
        // Let notifications' consumer declare and bind its queue before
        // anything is published.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(Self {
            channel: connect(contributions.running.addr).await?,
            contributions_db,
            notifications_db,
            contributions,
            notifications,
            shared,
            project,
            phase,
            tokens: Arc::new(tokens),
        })
    }

    fn notifications_db(&self) -> &DatabaseConnection {
        &self.notifications.running.context.db
    }

    async fn handled(&self) -> Result<i64, String> {
        let row = self
            .notifications_db()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM report_inputs",
            ))
            .await
            .map_err(|e| format!("counting handled events: {e}"))?
            .ok_or("no count")?;
        row.try_get::<i64>("", "n")
            .map_err(|e| format!("counting handled events: {e}"))
    }

    /// Waits until notifications handled `target` input events in all, or
    /// `timeout` passed; returns how many it had.
    async fn wait_for(&self, target: i64, timeout: Duration) -> Result<i64, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.handled().await?;
            if n >= target || Instant::now() >= deadline {
                return Ok(n);
            }
            // Seldom: the count scans the table, on the database being
            // measured; the times come from the rows, not from this loop.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The sustained rate: `count` events through relay, broker and
    /// consumer, timed until notifications has handled the last one. How
    /// the events reach the outbox is `writing`'s to say.
    pub async fn sustained(
        &self,
        run: usize,
        count: usize,
        writing: Writing,
        timeout: Duration,
        cpu: &CpuProbe,
    ) -> Result<Measured, String> {
        let before = self.handled().await?;
        let marker = format!("{}-{run}-", writing.scenario());
        let events = (0..count)
            .map(|n| self.input_created(&format!("{marker}{n}")))
            .collect::<Result<Vec<NewEvent>, String>>()?;
        let (meter, started) = match writing {
            Writing::Backlog => {
                // Written and committed before the clock starts: the relay
                // sees every row at once, at the commit.
                let txn = self.begin_outbox().await?;
                for chunk in events.chunks(WRITE_BATCH) {
                    self.outbox()
                        .write_all(&txn, chunk.iter().cloned())
                        .await
                        .map_err(|e| format!("writing the outbox: {e}"))?;
                }
                let meter = cpu.start().await;
                self.commit_outbox(txn).await?;
                (meter, Utc::now())
            }
            Writing::Concurrent => {
                let meter = cpu.start().await;
                let started = Utc::now();
                for chunk in events.chunks(WRITE_BATCH) {
                    let txn = self.begin_outbox().await?;
                    for event in chunk {
                        self.outbox()
                            .write(&txn, event.clone())
                            .await
                            .map_err(|e| format!("writing the outbox: {e}"))?;
                    }
                    self.commit_outbox(txn).await?;
                }
                (meter, started)
            }
        };
        let target = before + i64::try_from(count).unwrap_or(i64::MAX);
        let reached = self.wait_for(target, timeout).await?;
        let cpu = meter.stop().await;
        // From the start to when notifications handled the last of them, as
        // PostgreSQL's clock (this machine's) stamped it in the inbox
        // transaction: not to when the polling below happened to see it.
        let last = self
            .notifications_db()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT max(loadgen_handled_at) AS at FROM report_inputs WHERE title LIKE '{marker}%'"),
            ))
            .await
            .map_err(|e| format!("reading when the last event was handled: {e}"))?
            .and_then(|row| row.try_get::<Option<DateTime<Utc>>>("", "at").ok().flatten())
            .unwrap_or_else(Utc::now);
        let elapsed = (last - started).to_std().unwrap_or_default();
        // Per event: from the start (the backlog's commit, or the first
        // write) to its handling; a batch's latencies measure its queue.
        let latencies = self
            .latencies(&format!(
                "SELECT (extract(epoch FROM loadgen_handled_at - '{}'::timestamptz) * 1000000)::bigint AS micros \
                 FROM report_inputs WHERE title LIKE '{marker}%'",
                started.to_rfc3339()
            ))
            .await?;
        let mut errors = Errors::new();
        if reached < target {
            errors.insert(
                "not_handled_in_time".to_owned(),
                u64::try_from(target - reached).unwrap_or(0),
            );
        }
        Ok(Measured {
            scenario: writing.scenario().to_owned(),
            run,
            mode: Mode::Batch,
            ok: u64::try_from(reached - before).unwrap_or(0),
            errors,
            elapsed,
            latencies,
            cpu: Some(cpu),
            extra: serde_json::json!({"events": count, "write_batch": WRITE_BATCH, "writing": writing.describe()}),
        })
    }

    /// An `input.created` event titled `title`, as contributions writes it.
    fn input_created(&self, title: &str) -> Result<NewEvent, String> {
        let input = uuid::Uuid::now_v7().to_string();
        let event = events::InputCreated {
            input_id: input.clone(),
            project_id: self.project.to_string(),
            phase_id: self.phase.to_string(),
            author_id: "pipeline-person-0".to_owned(),
            anonymous: false,
            title: title.to_owned(),
            created_at: Some(inspraak_kit::clock::timestamp(Utc::now())),
            answer_deadline: None,
            status: "proposed".to_owned(),
        };
        let event_type = "contributions.input.created.v1".parse()?;
        Ok(NewEvent::new(
            event_type,
            "input",
            input,
            1,
            Utc::now(),
            &event,
        ))
    }

    fn outbox(&self) -> Outbox {
        self.contributions.running.context.bus.outbox()
    }

    async fn begin_outbox(&self) -> Result<DatabaseTransaction, String> {
        self.contributions
            .running
            .context
            .db
            .begin()
            .await
            .map_err(|e| format!("writing the outbox: {e}"))
    }

    async fn commit_outbox(&self, txn: DatabaseTransaction) -> Result<(), String> {
        self.outbox()
            .commit(txn)
            .await
            .map_err(|e| format!("committing the outbox: {e}"))
    }

    async fn latencies(&self, sql: &str) -> Result<Latencies, String> {
        let rows = self
            .notifications_db()
            .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .map_err(|e| format!("reading when events were handled: {e}"))?;
        let mut latencies = Latencies::default();
        for row in rows {
            if let Ok(micros) = row.try_get::<i64>("", "micros") {
                latencies.record(Duration::from_micros(u64::try_from(micros).unwrap_or(0)));
            }
        }
        Ok(latencies)
    }

    /// One event of the mixed load: every [`API_SHARE`]th an input created
    /// through the gRPC API (remembered under its id with the wall-clock
    /// time it was due), the others an `input.created` event written
    /// straight into the outbox in a transaction of its own, as any other
    /// write's event would be, with the time it was due as its creation
    /// time.
    fn mixed_load(&self, run: usize, scheduled: &Scheduled) -> Arc<impl Operation> {
        let (channel, tokens) = (self.channel.clone(), self.tokens.clone());
        let (project, phase) = (self.project.to_string(), self.phase.to_string());
        let db = self.contributions.running.context.db.clone();
        let outbox = self.contributions.running.context.bus.outbox();
        let scheduled = scheduled.clone();
        // The wall clock of an Instant: both read once, together.
        let (base_instant, base_wall) = (Instant::now(), Utc::now());
        operation(move |seq, due: Instant| {
            let wall = base_wall
                + chrono::Duration::from_std(due.saturating_duration_since(base_instant))
                    .unwrap_or_default();
            let via_api = seq.is_multiple_of(API_SHARE);
            let mut client = ContributionsClient::new(channel.clone());
            let token = tokens[usize::try_from(seq).unwrap_or(0) % tokens.len()].clone();
            let request = authed(create_request(&project, &phase, seq), &token);
            let event = events::InputCreated {
                input_id: uuid::Uuid::now_v7().to_string(),
                project_id: project.clone(),
                phase_id: phase.clone(),
                author_id: "pipeline-person-0".to_owned(),
                anonymous: false,
                title: format!("load-{run}-{seq}"),
                created_at: Some(inspraak_kit::clock::timestamp(wall)),
                answer_deadline: None,
                status: "proposed".to_owned(),
            };
            let (db, outbox, scheduled) = (db.clone(), outbox.clone(), scheduled.clone());
            async move {
                if via_api {
                    let input = client
                        .create_input(request)
                        .await
                        .map_err(|e| status(&e))?
                        .into_inner();
                    if let Ok(mut map) = scheduled.lock() {
                        map.insert(input.id, wall);
                    }
                    return Ok(());
                }
                let txn = db.begin().await.map_err(|_| "database_error".to_owned())?;
                outbox
                    .record(
                        &txn,
                        "contributions.input.created.v1",
                        "input",
                        &event.input_id,
                        1,
                        wall,
                        &event,
                    )
                    .await
                    .map_err(|_| "database_error".to_owned())?;
                outbox
                    .commit(txn)
                    .await
                    .map_err(|_| "database_error".to_owned())
            }
        })
    }

    /// Input to inbox under a pipeline load of `rate` events per second:
    /// the load itself (`pipeline_load`: writes timed to their commit), each
    /// event from when it was due to its handling (`event_to_inbox`), and
    /// the inputs created through the API among them, from the scheduled
    /// send of the call to their handling (`input_to_inbox`).
    pub async fn input_to_inbox(
        &self,
        run: usize,
        rate: f64,
        timing: Timing,
        sequence: &Sequence,
        cpu: &CpuProbe,
    ) -> Result<Vec<Measured>, String> {
        let scheduled: Scheduled = Arc::default();
        let operation = self.mixed_load(run, &scheduled);
        let before = self.handled().await?;
        let mut load = drive::open(
            "pipeline_load",
            run,
            &operation,
            sequence,
            rate,
            timing,
            cpu,
        )
        .await;
        load.extra["api_share"] = serde_json::json!(format!("1/{API_SHARE}"));
        let target = before + i64::try_from(load.ok).unwrap_or(i64::MAX);
        let reached = self.wait_for(target, Duration::from_secs(30)).await?;
        let mut missing = Errors::new();
        if reached < target {
            missing.insert(
                "not_handled_in_time".to_owned(),
                u64::try_from(target - reached).unwrap_or(0),
            );
        }
        let events = self
            .latencies(&format!(
                "SELECT (extract(epoch FROM loadgen_handled_at - created_at) * 1000000)::bigint AS micros \
                 FROM report_inputs WHERE title LIKE 'load-{run}-%'"
            ))
            .await?;
        let sent: HashMap<String, DateTime<Utc>> = scheduled
            .lock()
            .map(|map| map.clone())
            .map_err(|_| "the schedule's lock was poisoned")?;
        let rows = self
            .notifications_db()
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT input_id::text AS id, loadgen_handled_at AS at FROM report_inputs WHERE title LIKE 'Meer bankjes%'",
            ))
            .await
            .map_err(|e| format!("reading when inputs arrived: {e}"))?;
        let mut inputs = Latencies::default();
        let mut arrived = 0u64;
        for row in rows {
            let (Ok(id), Ok(at)) = (
                row.try_get::<String>("", "id"),
                row.try_get::<DateTime<Utc>>("", "at"),
            ) else {
                continue;
            };
            if let Some(due) = sent.get(&id) {
                arrived += 1;
                inputs.record((at - *due).to_std().unwrap_or_default());
            }
        }
        let event_count = events.count();
        // The CPU time is the load's, reported with it once.
        let measured = |scenario: &str, ok: u64, latencies: Latencies, extra| Measured {
            scenario: scenario.to_owned(),
            run,
            mode: Mode::Open { rate },
            ok,
            errors: missing.clone(),
            elapsed: load.elapsed,
            latencies,
            cpu: None,
            extra,
        };
        let to_inbox = measured(
            "event_to_inbox",
            event_count,
            events,
            serde_json::json!({"from": "when the outbox write was due", "to": "notifications' inbox transaction"}),
        );
        let input_to_inbox = measured(
            "input_to_inbox",
            arrived,
            inputs,
            serde_json::json!({"from": "scheduled send of CreateInput", "to": "notifications' inbox transaction", "inputs_per_s": rate / API_SHARE as f64}),
        );
        Ok(vec![load, to_inbox, input_to_inbox])
    }

    pub fn databases(&self) -> Vec<String> {
        vec![
            database_name(&self.contributions_db),
            database_name(&self.notifications_db),
        ]
    }

    pub async fn stop(self, runtime: &ServerRuntime) {
        let (contributions, notifications, shared) =
            (self.contributions, self.notifications, self.shared);
        let _ = runtime
            .run(async move {
                contributions.stop().await;
                notifications.stop().await;
                let mut queues: Vec<&str> = CONTRIBUTIONS_QUEUES.to_vec();
                queues.extend(["notifications.notify", "notifications.dlq"]);
                shared.cleanup(&queues).await;
            })
            .await;
    }
}
