//! Writes through contributions on PostgreSQL and RabbitMQ: creating an
//! input (the input, its counters and an outbox row in one transaction)
//! and reacting on one (the reaction, the counters of the input, the
//! project and the phase, and the burst the coalescer announces).
//!
//! Every request is distinct: request `seq` is person `seq / INPUTS`
//! reacting on input `seq % INPUTS`, so consecutive requests touch
//! different inputs and nobody reacts twice on one input.

use std::sync::Arc;

use super::unlimited_posting;
use inspraak_bus::QueueSpec;
use inspraak_contributions::ContributionsService;
use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tonic::transport::Channel;

use crate::drive::{Operation, operation, status};
use crate::servers::{ServerRuntime, connect, database_name, stop_capturing};

/// The queues contributions declares (under the test prefix), and the one
/// this benchmark declares for the events' subscribers.
pub const CONTRIBUTIONS_QUEUES: [&str; 4] = [
    "contributions.projection",
    "contributions.people",
    "contributions.dlq",
    SUBSCRIBERS,
];

/// The queue that stands for notifications' in a deployment: bound to the
/// events notifications consumes, so that contributions' events are routed
/// and stored as they are there. Nobody consumes it here (consuming is the
/// event pipeline's scenario); without it RabbitMQ would return every event
/// as unroutable and the relay would retry each for `BUS_UNROUTED_GRACE`,
/// work a deployment never does.
const SUBSCRIBERS: &str = "contributions.bench-subscribers";

/// Inputs seeded for reacting on.
pub const INPUTS: u64 = 10_000;

/// People with a token ready: enough for `PEOPLE * INPUTS` reactions.
const PEOPLE: u64 = 1_000;

/// The id of seeded input `i` (ids sort like UUIDv7, as real ones do).
pub fn input_id(i: u64) -> String {
    format!("01900000-0000-7000-8000-{i:012x}")
}

/// One published public project, with an open ideation phase where
/// registered people post, comment, react and vote, in contributions'
/// projection of projects; and `inputs` inputs in it.
pub async fn seed(
    db: &DatabaseConnection,
    project: uuid::Uuid,
    phase: uuid::Uuid,
    first: u64,
    inputs: u64,
) -> Result<(), String> {
    let last = first + inputs - 1;
    let statements = [
        format!(
            "INSERT INTO projected_projects (id, state, visibility, version) VALUES ('{project}', 'published', 'public', 1)"
        ),
        format!(
            "INSERT INTO projected_phases (id, project_id, starts_at, ends_at, method, post, comment, react, vote) \
             VALUES ('{phase}', '{project}', now() - interval '1 day', NULL, 'ideation', 'registered', 'registered', 'registered', 'registered')"
        ),
        format!(
            "INSERT INTO inputs (id, project_id, phase_id, title, body, topics, latitude, longitude, anonymous, author_id, \
             status, request_id, feedback_given, created_at, answer_deadline, updated_at, deleted_at, version, trending) \
             SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '{project}', '{phase}', \
                    'Idee nummer ' || i, 'Een voorstel voor de buurt, nummer ' || i, '[\"groen\"]'::jsonb, NULL, NULL, false, \
                    'resident-' || (i % 5000), 'proposed', NULL, false, now() - (({last} - i) || ' seconds')::interval, \
                    now() + interval '14 days', now(), NULL, 1, i::double precision / 45000 \
             FROM generate_series({first}, {last}) AS i"
        ),
        "ANALYZE".to_owned(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql)
            .await
            .map_err(|e| format!("seeding: {e}"))?;
    }
    Ok(())
}

/// Sets `log_statement = all` for the sessions that open on `database`
/// from now on.
async fn log_every_statement(database: &TestDatabase) -> Result<(), String> {
    let name = database_name(database);
    let db = sea_orm::Database::connect(database.url.as_str())
        .await
        .map_err(|e| format!("connecting to {name}: {e}"))?;
    db.execute_unprepared(&format!("ALTER DATABASE {name} SET log_statement = 'all'"))
        .await
        .map_err(|e| format!("logging the statements on {name}: {e}"))?;
    let _ = db.close().await;
    println!("logging every statement on database {name}");
    Ok(())
}

pub struct WriteSetup {
    pub channel: Channel,
    pub project: uuid::Uuid,
    pub phase: uuid::Uuid,
    pub database: TestDatabase,
    tokens: Arc<Vec<String>>,
    server: TestServer,
    shared: Shared,
}

impl WriteSetup {
    /// Contributions on a fresh database and the real RabbitMQ (an exchange
    /// and queues of its own), with [`INPUTS`] inputs to react on.
    ///
    /// With `log_statements`, PostgreSQL logs every statement on this
    /// database (`log_statement = all`), to count what a request issues.
    pub async fn start(runtime: &ServerRuntime, log_statements: bool) -> Result<Self, String> {
        let (server, database, shared) = runtime
            .run(async move {
                let database = TestDatabase::postgres().await;
                if log_statements {
                    log_every_statement(&database).await?;
                }
                let shared = Shared::rabbitmq().await;
                let server = TestServer::start(
                    ContributionsService::new(unlimited_posting()),
                    &database,
                    &shared,
                )
                .await;
                Ok::<_, String>((server, database, shared))
            })
            .await??;
        stop_capturing(&shared).await?;
        declare_subscribers(&shared).await?;
        let (project, phase) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        seed(&server.running.context.db, project, phase, 1, INPUTS).await?;
        let now = shared.clock.now();
        let tokens = (0..PEOPLE)
            .map(|n| {
                shared.keys.sign(&shared.keys.claims(
                    PrincipalKind::Person,
                    &format!("bench-person-{n}"),
                    &[],
                    now,
                ))
            })
            .collect();
        Ok(Self {
            channel: connect(server.running.addr).await?,
            project,
            phase,
            database,
            tokens: Arc::new(tokens),
            server,
            shared,
        })
    }

    /// React UP: person `seq / INPUTS` on input `seq % INPUTS`.
    pub fn react(&self) -> Arc<impl Operation> {
        let (channel, tokens) = (self.channel.clone(), self.tokens.clone());
        operation(move |seq, _| {
            let mut client = DiscussionClient::new(channel.clone());
            let person = usize::try_from(seq / INPUTS).unwrap_or(usize::MAX);
            let request = tokens.get(person).map(|token| {
                authed(
                    proto::ReactRequest {
                        input_id: input_id(1 + seq % INPUTS),
                        direction: proto::ReactionDirection::Up as i32,
                    },
                    token,
                )
            });
            async move {
                let request = request.ok_or_else(|| "out_of_people".to_owned())?;
                client
                    .react(request)
                    .await
                    .map(|_| ())
                    .map_err(|e| status(&e))
            }
        })
    }

    /// Create an input, by one of the prepared people in turn.
    pub fn create_input(&self) -> Arc<impl Operation> {
        let (channel, tokens) = (self.channel.clone(), self.tokens.clone());
        let (project, phase) = (self.project.to_string(), self.phase.to_string());
        operation(move |seq, _| {
            let mut client = ContributionsClient::new(channel.clone());
            let token = &tokens[usize::try_from(seq).unwrap_or(0) % tokens.len()];
            let request = authed(create_request(&project, &phase, seq), token);
            async move {
                client
                    .create_input(request)
                    .await
                    .map(|_| ())
                    .map_err(|e| status(&e))
            }
        })
    }

    pub async fn stop(self, runtime: &ServerRuntime) {
        let (server, shared) = (self.server, self.shared);
        let _ = runtime
            .run(async move {
                server.stop().await;
                shared.cleanup(&CONTRIBUTIONS_QUEUES).await;
            })
            .await;
    }
}

/// Declares [`SUBSCRIBERS`] as notifications declares its queue with the
/// bus's defaults (a quorum queue with a delivery limit).
async fn declare_subscribers(shared: &Shared) -> Result<(), String> {
    let (_, prefix) = shared
        .rabbit_names()
        .ok_or_else(|| "the writes run on RabbitMQ".to_owned())?;
    let defaults = inspraak_bus::BusSettings::from_env(
        &mut inspraak_kit::Env::from_pairs(std::iter::empty::<(String, String)>()),
        None,
    );
    shared
        .broker
        .declare_queue(&QueueSpec {
            name: format!("{prefix}{SUBSCRIBERS}"),
            bindings: inspraak_notifications::handler::BINDINGS
                .iter()
                .map(|b| (*b).to_owned())
                .collect(),
            kind: defaults.queue_kind,
            dead_letter_queue: String::new(),
            delivery_limit: defaults.delivery_limit,
        })
        .await
        .map_err(|e| format!("declaring {SUBSCRIBERS}: {e}"))
}

/// A new idea, number `seq`.
pub fn create_request(project: &str, phase: &str, seq: u64) -> proto::CreateInputRequest {
    proto::CreateInputRequest {
        project_id: project.to_owned(),
        phase_id: phase.to_owned(),
        title: format!("Meer bankjes in het park ({seq})"),
        body: "Er zijn te weinig plekken om te zitten langs het water.".to_owned(),
        topics: vec!["groen".to_owned()],
        location: None,
        anonymous: false,
        request_id: String::new(),
    }
}
