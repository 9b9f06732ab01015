//! Two instances of contributions behind one client, as a rolling restart
//! or a scale-down leaves them: SIGTERM to one of them while residents post
//! ideas through both. As in a deployment, the terminating instance leaves
//! the client's list of endpoints (Kubernetes removes a terminating pod from
//! its Service's endpoints) at the moment it gets SIGTERM — without the
//! chart's preStop pause, which would give clients time to move away first:
//! calls already sent to it are in flight when it starts draining. The calls in flight on the stopping instance finish;
//! what it refuses while it drains is UNAVAILABLE — the one code the gRPC
//! retry policy retries — so a client with that policy (at most five
//! attempts, exponential back-off) sees no failure, and every idea is stored
//! once (retries carry the idea's request id).
//!
//! A call the client had not yet sent when the stopping instance closed its
//! connection never reached a server: gRPC clients retry those
//! transparently, whatever their policy (gRFC A6). tonic's client reports
//! them as CANCELLED with the transport's error as source, so this client
//! retries those too — and only those: a CANCELLED from a server carries
//! no transport error.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use support::{Platform, demo};
use tonic::Code;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

const WRITERS: usize = 4;
/// The gRPC retry policy's usual shape: attempts, first back-off, factor.
const MAX_ATTEMPTS: u32 = 5;
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);

#[test]
fn sigterm_to_one_of_two_instances_fails_no_call_of_a_retrying_client() {
    let mut platform = Platform::start_production(&[
        // Residents here post far faster than people do.
        ("CONTRIBUTIONS_INPUTS_PER_MINUTE", "10000"),
        ("SHUTDOWN_DRAIN_TIMEOUT", "10s"),
    ]);
    platform.sign_in_admin();
    let seeded = platform.json(&["demo"]);
    let (second, second_url) = platform.add_replica("contributions");
    let first_url = platform.url("contributions").to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");

    let (tokens, project) = runtime.block_on(async {
        (
            demo::residents(&platform, &seeded, WRITERS).await,
            demo::first_project(&platform, &seeded).await,
        )
    });

    // One channel over both instances, as a client behind a headless
    // service or with a list of addresses has.
    let (channel, endpoints) = runtime.block_on(async {
        let (channel, endpoints) = Channel::balance_channel::<usize>(4);
        for (key, url) in [&first_url, &second_url].into_iter().enumerate() {
            let endpoint = Endpoint::from_shared(url.clone()).expect("a URL");
            endpoints
                .send(Change::Insert(key, endpoint))
                .await
                .expect("the endpoint list");
        }
        (channel, endpoints)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(n, token)| {
            let (channel, stop, project) = (channel.clone(), stop.clone(), project.clone());
            runtime.spawn(async move { write(n, channel, &token, &project, &stop).await })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(2));
    // Terminating: out of the endpoints and SIGTERM at once; calls already
    // sent to it are still in flight.
    runtime
        .block_on(endpoints.send(Change::Remove(1)))
        .expect("the endpoint list");
    let terminated_at = Instant::now();
    let clean_exit = platform.terminate(second, Duration::from_secs(15));
    let drained_in = terminated_at.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let mut log = Log::default();
    for writer in writers {
        log.merge(runtime.block_on(writer).expect("a writer"));
    }

    let stored: i64 = runtime.block_on(async {
        let db = sea_orm::Database::connect(platform.database_url("contributions"))
            .await
            .expect("contributions' database");
        db.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM inputs WHERE title LIKE 'Idea term-%'",
        ))
        .await
        .expect("count")
        .expect("a row")
        .try_get("", "n")
        .expect("a count")
    });
    println!(
        "SIGTERM to one of two instances: {} ideas acknowledged, {} attempts retried ({}), \
         failures {}, stored {}; the instance drained and stopped in {:.2}s (clean exit: {clean_exit})",
        log.acknowledged,
        log.retried.values().sum::<usize>(),
        summary(&log.retried),
        log.failures.len(),
        stored,
        drained_in.as_secs_f64(),
    );
    assert!(clean_exit, "the instance exits successfully after SIGTERM");
    assert!(
        log.failures.is_empty(),
        "calls failed despite the retry policy: {:?}",
        &log.failures[..log.failures.len().min(5)]
    );
    assert!(log.acknowledged >= 20, "the load ran throughout");
    assert_eq!(
        usize::try_from(stored).expect("a count"),
        log.acknowledged,
        "every acknowledged idea stored once"
    );
}

#[derive(Default)]
struct Log {
    acknowledged: usize,
    /// Attempts that were retried, by the code that made them retried.
    retried: HashMap<String, usize>,
    failures: Vec<tonic::Status>,
}

impl Log {
    fn merge(&mut self, other: Self) {
        self.acknowledged += other.acknowledged;
        for (code, n) in other.retried {
            *self.retried.entry(code).or_default() += n;
        }
        self.failures.extend(other.failures);
    }
}

fn summary(retried: &HashMap<String, usize>) -> String {
    let mut codes: Vec<_> = retried.iter().map(|(c, n)| format!("{n} {c}")).collect();
    codes.sort();
    codes.join(", ")
}

/// Posts ideas until `stop`, each call under the gRPC retry policy:
/// UNAVAILABLE is tried again, up to `MAX_ATTEMPTS`, with back-off; any
/// other error is a failure.
async fn write(
    writer: usize,
    channel: Channel,
    token: &str,
    project: &demo::Project,
    stop: &AtomicBool,
) -> Log {
    let client = ContributionsClient::new(channel);
    let mut log = Log::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let request_id = format!("term-{writer}-{n}");
        let mut backoff = INITIAL_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let request = demo::idea(project, &request_id, token, Duration::from_secs(10));
            match client.clone().create_input(request).await {
                Ok(_) => {
                    log.acknowledged += 1;
                    break;
                }
                Err(status)
                    if (status.code() == Code::Unavailable || never_sent(&status))
                        && attempt < MAX_ATTEMPTS =>
                {
                    let why = if never_sent(&status) {
                        "never sent".to_owned()
                    } else {
                        format!("{:?}", status.code())
                    };
                    *log.retried.entry(why).or_default() += 1;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(status) => {
                    log.failures.push(status);
                    break;
                }
            }
        }
    }
    log
}

/// A call that failed in the client's own transport before any server
/// answered: tonic's CANCELLED with a transport error as its source.
fn never_sent(status: &tonic::Status) -> bool {
    use std::error::Error;
    status.code() == Code::Cancelled
        && status
            .source()
            .is_some_and(|source| source.downcast_ref::<tonic::transport::Error>().is_some())
}
