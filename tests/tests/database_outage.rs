//! The database connection cut for a few seconds while contributions serves:
//! calls fail fast with UNAVAILABLE — within the acquire timeout, long before
//! their deadline — instead of hanging or answering INTERNAL; once the line
//! is back the service answers again on its own, nothing written before the
//! cut is lost, and the writes refused during the cut, retried with their
//! request ids, are stored once each.
//!
//! Contributions reaches its PostgreSQL database through a fault-injecting
//! proxy that closes live connections and refuses new ones while cut, so the
//! pool holds dead connections when the cut starts and cannot open new ones
//! until it ends. Callers are already calling when the line goes, so some
//! calls lose their connection mid-statement: those end done or UNAVAILABLE,
//! never INTERNAL. `INSPRAAK_SOAK=1` cuts five times for longer.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer};
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::{CreateInputRequest, ListInputsRequest};
use inspraak_tests::contributions::{
    OpenProject, open_project, request, resident_token, statistics,
};
use inspraak_tests::proxy::{FaultProxy, upstream_of};
use tonic::Code;
use tonic::transport::Channel;

/// `DATABASE_ACQUIRE_TIMEOUT` of the service under test: the bound on how
/// long a call may wait for the database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// What the bound allows beyond the acquire timeout: the call's own work
/// and the scheduling of a busy test machine, not a second wait.
const SLACK: Duration = Duration::from_millis(750);
/// The deadline every call carries.
const DEADLINE: Duration = Duration::from_secs(5);
const BEFORE_CUT: usize = 20;
/// How long callers call before each cut.
const LEAD: Duration = Duration::from_millis(300);
const CALLERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_cut_fails_fast_with_unavailable_and_recovers() {
    let shared = Shared::new().await;
    let mut database = TestDatabase::postgres().await;
    let upstream = upstream_of(&database.url)
        .await
        .expect("the test PostgreSQL's address");
    let proxy = FaultProxy::start(upstream)
        .await
        .expect("the proxy listens");
    database.url = proxy.rewrite(&database.url);
    let settings = ContributionsSettings {
        // This test posts far faster than people do.
        inputs_per_minute: 10_000,
        ..ContributionsSettings::defaults()
    };
    let acquire_timeout = format!("{}ms", ACQUIRE_TIMEOUT.as_millis());
    let server = TestServer::start_with(
        ContributionsService::new(settings),
        &database,
        &shared,
        &[("DATABASE_ACQUIRE_TIMEOUT", acquire_timeout.as_str())],
    )
    .await;
    let project = open_project(&server, &shared).await;
    let token = resident_token(&shared);

    // Written and acknowledged before the cut: none of these may be lost.
    let mut acknowledged = HashSet::new();
    for n in 0..BEFORE_CUT {
        let input = create(&server.channel, &project, &token, &format!("before-{n}"))
            .await
            .unwrap_or_else(|status| panic!("input {n} before the cut: {status:?}"));
        acknowledged.insert(input);
    }
    assert!(proxy.connections() > 0, "the service uses the proxy");

    // The cuts: callers keep calling, reads and writes alike.
    let profile = Profile::from_env();
    let mut during = Vec::new();
    let mut slowest_recovery = Duration::ZERO;
    for cut in 0..profile.cuts {
        during.extend(
            call_through_cut(&server.channel, &project, &token, cut, &proxy, profile.cut).await,
        );
        proxy.restore();
        let restored_at = Instant::now();

        // Back on its own: no restart, no intervention.
        let recovery_deadline = restored_at + Duration::from_secs(15);
        while statistics(&server.channel, &project).await.is_err() {
            assert!(
                Instant::now() < recovery_deadline,
                "the service never answered again after cut {cut}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slowest_recovery = slowest_recovery.max(restored_at.elapsed());
        tokio::time::sleep(profile.between).await;
    }

    // Every write made around the cut, retried with its request id: each
    // stored once, whether its first attempt was acknowledged, refused, or
    // reached the database but lost its answer.
    let refused: Vec<&String> = during
        .iter()
        .filter_map(|outcome| outcome.request_id.as_ref())
        .collect();
    for request_id in &refused {
        let input = create(&server.channel, &project, &token, request_id)
            .await
            .unwrap_or_else(|status| panic!("retry of {request_id} after the cut: {status:?}"));
        acknowledged.insert(input);
    }

    let stored = list_inputs(&server.channel, &project, &token).await;
    let lost = acknowledged.difference(&stored).count();
    let figures = statistics(&server.channel, &project)
        .await
        .expect("statistics after the cut");
    let calls = during.len();
    let in_cut: Vec<&Outcome> = during.iter().filter(|o| o.after_cut).collect();
    let unavailable = count(&during, Code::Unavailable);
    let internal = count(&during, Code::Internal);
    let slowest = during
        .iter()
        .map(|outcome| outcome.elapsed)
        .max()
        .unwrap_or_default();
    println!(
        "database cut: {calls} calls, {unavailable} UNAVAILABLE, {internal} INTERNAL, lost {lost} \
         ({} made during the cut, the rest in flight or before it; {} cut(s) of {:.0}s; slowest call {:.2}s against an acquire timeout of {:.1}s and a \
         deadline of {:.0}s; answering again at most {:.2}s after a restore)",
        in_cut.len(),
        profile.cuts,
        profile.cut.as_secs_f64(),
        slowest.as_secs_f64(),
        ACQUIRE_TIMEOUT.as_secs_f64(),
        DEADLINE.as_secs_f64(),
        slowest_recovery.as_secs_f64(),
    );

    assert!(
        in_cut.len() >= 2 * CALLERS * profile.cuts,
        "too few calls during the cut: {}",
        in_cut.len()
    );
    let other: Vec<&&Outcome> = in_cut
        .iter()
        .filter(|outcome| outcome.code != Code::Unavailable)
        .collect();
    assert!(
        other.is_empty(),
        "every call made during the cut answers UNAVAILABLE: {other:?}"
    );
    // Calls in flight when the line went: done, or UNAVAILABLE (their
    // connection broke mid-statement), never a server fault.
    let broken: Vec<&Outcome> = during
        .iter()
        .filter(|o| !o.after_cut && !matches!(o.code, Code::Ok | Code::Unavailable))
        .collect();
    assert!(broken.is_empty(), "calls in flight at the cut: {broken:?}");
    let slow: Vec<&Outcome> = during
        .iter()
        .filter(|outcome| outcome.elapsed > ACQUIRE_TIMEOUT + SLACK)
        .collect();
    assert!(
        slow.is_empty(),
        "calls waited beyond the acquire timeout ({ACQUIRE_TIMEOUT:?}): {slow:?}"
    );
    assert_eq!(lost, 0, "inputs acknowledged before the cut are gone");
    assert_eq!(
        acknowledged.len(),
        BEFORE_CUT + refused.len(),
        "every write is one input"
    );
    assert_eq!(stored, acknowledged, "no input nobody asked for");
    assert_eq!(
        usize::try_from(figures.inputs).expect("a count"),
        acknowledged.len(),
        "the statistics count each input once"
    );

    server.stop().await;
    drop(proxy);
}

/// How often and how long the line is cut: once for a few seconds in the
/// default profile, `INSPRAAK_SOAK=1` five times for longer.
struct Profile {
    cuts: usize,
    cut: Duration,
    between: Duration,
}

impl Profile {
    fn from_env() -> Self {
        if std::env::var("INSPRAAK_SOAK").is_ok_and(|v| v == "1") {
            Self {
                cuts: 5,
                cut: Duration::from_secs(10),
                between: Duration::from_secs(2),
            }
        } else {
            Self {
                cuts: 1,
                cut: Duration::from_secs(3),
                between: Duration::ZERO,
            }
        }
    }
}

/// `CALLERS` callers, each alternating a write and a read, from `LEAD`
/// before the cut (so that calls are in flight when it comes) until `cut`
/// has passed; every call's outcome.
async fn call_through_cut(
    channel: &Channel,
    project: &OpenProject,
    token: &str,
    round: usize,
    proxy: &FaultProxy,
    cut: Duration,
) -> Vec<Outcome> {
    let begun = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (channel, project, token) = (channel.clone(), project.clone(), token.to_owned());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut n = 0;
                while begun.elapsed() < LEAD + cut {
                    let request_id = format!("around-{round}-{caller}-{n}");
                    let started = Instant::now();
                    let code = create(&channel, &project, &token, &request_id)
                        .await
                        .map_or_else(|status| status.code(), |_| Code::Ok);
                    outcomes.push((started, code, started.elapsed(), Some(request_id)));
                    let started = Instant::now();
                    let code = statistics(&channel, &project)
                        .await
                        .map_or_else(|status| status.code(), |_| Code::Ok);
                    outcomes.push((started, code, started.elapsed(), None));
                    n += 1;
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(LEAD).await;
    proxy.cut();
    let cut_at = Instant::now();
    let mut outcomes = Vec::new();
    for caller in callers {
        for (started, code, elapsed, request_id) in caller.await.expect("a caller") {
            outcomes.push(Outcome {
                code,
                elapsed,
                request_id,
                after_cut: started >= cut_at,
            });
        }
    }
    outcomes
}

#[derive(Debug)]
struct Outcome {
    code: Code,
    elapsed: Duration,
    /// The write's request id (reads have none).
    request_id: Option<String>,
    /// Made once the line was cut (else in flight or done before).
    after_cut: bool,
}

fn count(outcomes: &[Outcome], code: Code) -> usize {
    outcomes.iter().filter(|o| o.code == code).count()
}

/// Posts an idea; its id.
async fn create(
    channel: &Channel,
    project: &OpenProject,
    token: &str,
    request_id: &str,
) -> Result<String, tonic::Status> {
    let message = CreateInputRequest {
        project_id: project.project_id.clone(),
        phase_id: project.phase_id.clone(),
        title: format!("Idea {request_id}"),
        body: "More trees on the square.".to_owned(),
        request_id: request_id.to_owned(),
        ..Default::default()
    };
    ContributionsClient::new(channel.clone())
        .create_input(request(message, token, DEADLINE))
        .await
        .map(|response| response.into_inner().id)
}

/// The ids of every input of the project, page by page.
async fn list_inputs(channel: &Channel, project: &OpenProject, token: &str) -> HashSet<String> {
    let mut client = ContributionsClient::new(channel.clone());
    let mut ids = HashSet::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_inputs(request(
                ListInputsRequest {
                    project_id: project.project_id.clone(),
                    page_size: 100,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                token,
                DEADLINE,
            ))
            .await
            .expect("list the inputs")
            .into_inner();
        ids.extend(page.inputs.into_iter().map(|input| input.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}
