//! A degraded network between contributions and both of its servers: every
//! chunk to and from PostgreSQL and RabbitMQ arrives late, and now and then
//! one arrives much later, as a lost segment waits for its retransmission.
//! Residents keep posting and reacting, each call with a deadline.
//!
//! What must hold: every call ends within its deadline (done, or its
//! deadline passed, or UNAVAILABLE — never a hang, never INTERNAL); writes
//! retried with their request ids until acknowledged are stored once; and
//! once the line is healthy again every acknowledged write has had exactly
//! one effect downstream (lost 0, duplicated 0, nothing stored twice).
//!
//! The line is degraded by the fault-injecting proxy of the test support
//! (`Degradation`: latency per chunk, and a stall every n-th chunk), which
//! needs no privileges, unlike `tc netem`. `INSPRAAK_SOAK=1` writes ten
//! times as much over a worse line.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use inspraak_host::testing::Shared;
use inspraak_kit::testing::{TestDatabase, amqp_url};
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::contributions::v1::{CreateInputRequest, ReactRequest, ReactionDirection};
use inspraak_tests::contributions::{
    OpenProject, open_project, request, resident_token, start_for_faults,
};
use inspraak_tests::downstream::{Downstream, Written, outbox_rows};
use inspraak_tests::proxy::{Degradation, FaultProxy, upstream_of};
use tonic::Code;
use tonic::transport::Channel;

/// The deadline every call carries.
const DEADLINE: Duration = Duration::from_secs(3);
/// What a call may take beyond its deadline: the client's own scheduling on
/// a busy test machine, not a second wait.
const SLACK: Duration = Duration::from_millis(750);
/// Attempts per write before the test gives up on it.
const ATTEMPTS: usize = 20;
const WRITERS: usize = 4;

struct Profile {
    /// Inputs posted per writer, each reacted on once.
    inputs: usize,
    line: Degradation,
}

impl Profile {
    fn from_env() -> Self {
        if std::env::var("INSPRAAK_SOAK").is_ok_and(|v| v == "1") {
            Self {
                inputs: 100,
                line: Degradation {
                    latency: Duration::from_millis(10),
                    stall_every: 100,
                    stall: Duration::from_millis(3500),
                },
            }
        } else {
            Self {
                inputs: 10,
                line: Degradation {
                    latency: Duration::from_millis(5),
                    stall_every: 200,
                    // Longer than a deadline: a call caught by it misses its
                    // deadline and is retried.
                    stall: Duration::from_millis(3500),
                },
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deadlines_hold_and_nothing_is_lost_on_a_degraded_network() {
    let profile = Profile::from_env();
    let broker = FaultProxy::start(upstream_of(&amqp_url()).await.expect("RabbitMQ's address"))
        .await
        .expect("the broker's proxy listens");
    let shared = Shared::rabbitmq_via(broker.rewrite(&amqp_url())).await;
    let (exchange, prefix) = shared.rabbit_names().expect("on RabbitMQ");
    let (exchange, prefix) = (exchange.to_owned(), prefix.to_owned());
    // Downstream stays on a clean line: it observes, it is not under test.
    let downstream = Downstream::start(&amqp_url(), &prefix, &exchange).await;

    let mut database = TestDatabase::postgres().await;
    let postgres = FaultProxy::start(
        upstream_of(&database.url)
            .await
            .expect("PostgreSQL's address"),
    )
    .await
    .expect("the database's proxy listens");
    let direct_url = database.url.clone();
    database.url = postgres.rewrite(&database.url);
    let (server, contributions_queues) = start_for_faults(&database, &shared).await;
    let project = open_project(&server, &shared).await;

    postgres.degrade(profile.line);
    broker.degrade(profile.line);
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (channel, project, shared) =
                (server.channel.clone(), project.clone(), shared.clone());
            let inputs = profile.inputs;
            tokio::spawn(async move { write(&channel, &project, &shared, writer, inputs).await })
        })
        .collect();
    let mut written = Written::default();
    let mut calls = Calls::default();
    for writer in writers {
        let (w, c) = writer.await.expect("a writer");
        written.merge(w);
        calls.merge(c);
    }
    let writing_took = started.elapsed();
    postgres.heal();
    broker.heal();

    let tally = downstream
        .settle_after_reactions_window(&shared.clock, &written, Duration::from_secs(60))
        .await;

    println!(
        "degraded network ({:?} per chunk, {:?} every {}th): {} calls ({}), slowest {:.2}s \
         against a deadline of {:?}; events {}, lost {}, duplicated {}, stored twice {} \
         ({} inputs and {} reactions acknowledged in {:.1}s)",
        profile.line.latency,
        profile.line.stall,
        profile.line.stall_every,
        calls.total(),
        calls.summary(),
        calls.slowest.as_secs_f64(),
        DEADLINE,
        tally.events,
        tally.lost,
        tally.duplicated,
        tally.extra,
        written.inputs.len(),
        written.reactions,
        writing_took.as_secs_f64(),
    );
    if tally.lost > 0 {
        let direct = sea_orm::Database::connect(&direct_url)
            .await
            .expect("the database, directly");
        let outbox = outbox_rows(&direct).await;
        println!(
            "after the wait: {outbox:?} events in contributions' outbox, {:?} in the \
             downstream's queue",
            downstream.queued().await
        );
    }

    let faults: Vec<_> = calls
        .by_code
        .keys()
        .filter(|ended| {
            !matches!(
                ended,
                Ended::Ok | Ended::DeadlinePassed | Ended::Other(Code::Unavailable)
            )
        })
        .collect();
    assert!(
        faults.is_empty(),
        "calls ended {faults:?}: {}",
        calls.summary()
    );
    assert!(
        calls.slowest <= DEADLINE + SLACK,
        "a call took {:?} against a deadline of {DEADLINE:?}",
        calls.slowest
    );
    assert!(
        written.failures.is_empty(),
        "writes never acknowledged in {ATTEMPTS} attempts: {:?}",
        &written.failures[..written.failures.len().min(5)]
    );
    assert_eq!(written.inputs.len(), WRITERS * profile.inputs);
    assert_eq!(written.reactions, WRITERS * profile.inputs);
    assert!(
        calls.by_code.contains_key(&Ended::DeadlinePassed),
        "the line was bad enough for some calls to miss their deadline"
    );
    tally.assert_each_applied_once(&written);

    server.stop().await;
    let mut queues = contributions_queues;
    queues.extend(downstream.queues());
    downstream.stop().await;
    inspraak_bus::testing::delete_rabbit_objects(&amqp_url(), &exchange, &queues).await;
    shared.cleanup(&[]).await;
    drop((postgres, broker));
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ended {
    Ok,
    /// DEADLINE_EXCEEDED, or how tonic's client reports its own timer
    /// firing first: CANCELLED "Timeout expired".
    DeadlinePassed,
    Other(Code),
}

impl Ended {
    fn of<T>(outcome: &Result<T, tonic::Status>) -> Self {
        match outcome {
            Ok(_) => Self::Ok,
            Err(status) => match status.code() {
                Code::DeadlineExceeded => Self::DeadlinePassed,
                Code::Cancelled if status.message() == "Timeout expired" => Self::DeadlinePassed,
                code => Self::Other(code),
            },
        }
    }
}

/// Every call's outcome.
#[derive(Default)]
struct Calls {
    by_code: HashMap<Ended, usize>,
    slowest: Duration,
}

impl Calls {
    fn record(&mut self, code: Ended, took: Duration) {
        *self.by_code.entry(code).or_default() += 1;
        self.slowest = self.slowest.max(took);
    }

    fn merge(&mut self, other: Self) {
        for (code, n) in other.by_code {
            *self.by_code.entry(code).or_default() += n;
        }
        self.slowest = self.slowest.max(other.slowest);
    }

    fn total(&self) -> usize {
        self.by_code.values().sum()
    }

    fn summary(&self) -> String {
        let mut codes: Vec<_> = self.by_code.iter().collect();
        codes.sort_by_key(|(ended, _)| match ended {
            Ended::Ok => -2,
            Ended::DeadlinePassed => -1,
            Ended::Other(code) => *code as i32,
        });
        codes
            .iter()
            .map(|(code, n)| format!("{n} {code:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One resident posting `inputs` ideas and another reacting on each, every
/// call retried until acknowledged (a creation with its request id, so a
/// retry after a lost answer stores nothing new).
async fn write(
    channel: &Channel,
    project: &OpenProject,
    shared: &Shared,
    writer: usize,
    inputs: usize,
) -> (Written, Calls) {
    let contributions = ContributionsClient::new(channel.clone());
    let discussion = DiscussionClient::new(channel.clone());
    let (author, reactor) = (resident_token(shared), resident_token(shared));
    let mut written = Written::default();
    let mut calls = Calls::default();
    for k in 0..inputs {
        let message = CreateInputRequest {
            project_id: project.project_id.clone(),
            phase_id: project.phase_id.clone(),
            title: format!("Idea {writer}-{k}"),
            body: "Shade on the playground.".to_owned(),
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        };
        let created = retried(&mut calls, || {
            let (mut client, message) = (contributions.clone(), message.clone());
            let author = author.clone();
            async move {
                client
                    .create_input(request(message, &author, DEADLINE))
                    .await
                    .map(|response| response.into_inner().id)
            }
        })
        .await;
        let input = match created {
            Ok(input) => input,
            Err(status) => {
                written.failures.push(status);
                continue;
            }
        };
        written.input(input.clone());
        let reacted = retried(&mut calls, || {
            let (mut client, reactor, input) = (discussion.clone(), reactor.clone(), input.clone());
            async move {
                client
                    .react(request(
                        ReactRequest {
                            input_id: input,
                            direction: ReactionDirection::Up as i32,
                        },
                        &reactor,
                        DEADLINE,
                    ))
                    .await
                    .map(|_| ())
            }
        })
        .await;
        match reacted {
            Ok(()) => written.reaction(input),
            Err(status) => written.failures.push(status),
        }
    }
    // Keep the clients alive to the end: their connections are the ones
    // the line degrades.
    drop((contributions, discussion));
    (written, calls)
}

/// `call` until it succeeds or fails for good, each attempt recorded; a
/// refusal that retrying cannot change ends the retries at once.
async fn retried<T, F, Fut>(calls: &mut Calls, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let started = Instant::now();
        let outcome = call().await;
        let ended = Ended::of(&outcome);
        calls.record(ended, started.elapsed());
        match outcome {
            Ok(value) => return Ok(value),
            Err(status)
                if matches!(
                    ended,
                    Ended::DeadlinePassed | Ended::Other(Code::Unavailable)
                ) =>
            {
                last = Some(status);
            }
            Err(status) => return Err(status),
        }
    }
    Err(last.unwrap_or_else(|| tonic::Status::unknown("no attempt made")))
}
