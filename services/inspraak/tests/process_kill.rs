//! Services killed with SIGKILL under load, as a crash or an OOM kill
//! would, and started again: on the platform deployed as in production
//! (four `inspraak serve` processes on PostgreSQL and RabbitMQ), residents
//! keep posting ideas while each service in turn is killed: contributions
//! (which takes the writes), notifications (which consumes their events),
//! projects and identity (whose keys every service verifies tokens with).
//!
//! What must hold: no acknowledged write is lost and none is stored twice
//! (a write whose answer was lost is retried with its request id); every
//! idea reaches notifications exactly once — in the decision-makers' report
//! and as one notification to each of the project's managers — however the
//! kills cut the relay's publishing and the consumer's handling; and after
//! identity's restart a resident signs in again and the new token is taken.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use support::{Platform, demo};
use tonic::Code;
use tonic::transport::Channel;

const WRITERS: usize = 2;
/// Load before, between and after the kills.
const STEADY: Duration = Duration::from_secs(2);
/// How long a killed service stays down.
const DOWN: Duration = Duration::from_secs(1);

#[test]
fn killed_services_lose_and_duplicate_nothing() {
    let mut platform = Platform::start_production(&[
        // Residents here post far faster than people do.
        ("CONTRIBUTIONS_INPUTS_PER_MINUTE", "10000"),
        ("BUS_MAX_BACKOFF", "1s"),
        ("OUTBOX_POLL_INTERVAL", "200ms"),
    ]);
    platform.sign_in_admin();
    let seeded = platform.json(&["demo"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");

    let (authors, project) = runtime.block_on(async {
        (
            demo::residents(&platform, &seeded, WRITERS).await,
            demo::first_project(&platform, &seeded).await,
        )
    });
    let managers = project.managers.clone();
    assert!(!managers.is_empty());

    // The writers, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let contributions_url = platform.url("contributions").to_owned();
    let writers: Vec<_> = authors
        .into_iter()
        .enumerate()
        .map(|(n, token)| {
            let (stop, url, project) = (stop.clone(), contributions_url.clone(), project.clone());
            runtime.spawn(async move { write(n, &url, &token, &project, &stop).await })
        })
        .collect();

    // The kills, each with the load running before and after.
    std::thread::sleep(STEADY);
    for service in ["contributions", "notifications", "projects", "identity"] {
        platform.kill(service);
        std::thread::sleep(DOWN);
        platform.restart(service);
        std::thread::sleep(STEADY);
    }
    stop.store(true, Ordering::SeqCst);
    // Identity, restarted, signs in again; contributions takes its token.
    let mut written = Written::default();
    runtime.block_on(async {
        let token = demo::residents(&platform, &seeded, 1).await.remove(0);
        let client = ContributionsClient::new(demo::channel(&contributions_url));
        post(
            &client,
            &token,
            &project,
            "kill-after-identity",
            &mut written,
        )
        .await;
    });
    for writer in writers {
        let w = runtime.block_on(writer).expect("a writer");
        written.acknowledged.extend(w.acknowledged);
        written.retried += w.retried;
        written.failures.extend(w.failures);
    }

    let outcome = runtime.block_on(check(&platform, &written, &managers));
    println!(
        "kill -9 of contributions, notifications, projects and identity under load: {} ideas acknowledged \
         ({} calls retried), lost {}, stored twice {}, reported {}, notifications {} \
         (expected {}), notified twice {}",
        written.acknowledged.len(),
        written.retried,
        outcome.lost,
        outcome.stored_twice,
        outcome.reported,
        outcome.notified,
        written.acknowledged.len() * outcome.recipients,
        outcome.notified_twice,
    );
    assert!(
        written.failures.is_empty(),
        "writes never acknowledged: {:?}",
        &written.failures[..written.failures.len().min(5)]
    );
    assert!(written.retried > 0, "the kills cut some calls");
    assert!(written.acknowledged.len() >= 10, "the load ran throughout");
    assert_eq!(outcome.lost, 0, "acknowledged ideas missing");
    assert_eq!(outcome.stored_twice, 0, "retried ideas stored twice");
    assert_eq!(outcome.reported, written.acknowledged.len());
    assert_eq!(
        outcome.notified,
        written.acknowledged.len() * outcome.recipients
    );
    assert_eq!(outcome.notified_twice, 0);
}

#[derive(Default)]
struct Written {
    /// Acknowledged idea id → its request id.
    acknowledged: HashMap<String, String>,
    /// Calls that failed and were tried again.
    retried: usize,
    failures: Vec<tonic::Status>,
}

/// Posts ideas until `stop`, each retried with its request id until
/// acknowledged while its service is down or restarting.
async fn write(
    writer: usize,
    url: &str,
    token: &str,
    project: &demo::Project,
    stop: &AtomicBool,
) -> Written {
    let client = ContributionsClient::new(demo::channel(url));
    let mut written = Written::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        post(
            &client,
            token,
            project,
            &format!("kill-{writer}-{n}"),
            &mut written,
        )
        .await;
    }
    written
}

/// Posts one idea, retried with its request id while its service is down
/// or restarting (or its answer was lost), for at most a minute.
async fn post(
    client: &ContributionsClient<Channel>,
    token: &str,
    project: &demo::Project,
    request_id: &str,
    written: &mut Written,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let request = demo::idea(project, request_id, token, Duration::from_secs(5));
        match client.clone().create_input(request).await {
            Ok(input) => {
                written
                    .acknowledged
                    .insert(input.into_inner().id, request_id.to_owned());
                return;
            }
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
                ) && Instant::now() < deadline =>
            {
                written.retried += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => {
                written.failures.push(status);
                return;
            }
        }
    }
}

struct Outcome {
    lost: usize,
    stored_twice: usize,
    reported: usize,
    /// Managers told of each idea (its author is never told of their own).
    recipients: usize,
    notified: usize,
    notified_twice: usize,
}

/// Reads the services' own databases once notifications caught up (or 60 s
/// passed).
async fn check(platform: &Platform, written: &Written, managers: &[String]) -> Outcome {
    let contributions_db = sea_orm::Database::connect(platform.database_url("contributions"))
        .await
        .expect("contributions' database");
    let notifications_db = sea_orm::Database::connect(platform.database_url("notifications"))
        .await
        .expect("notifications' database");
    let ids: HashSet<&str> = written.acknowledged.keys().map(String::as_str).collect();

    let stored = strings(
        &contributions_db,
        "SELECT id::text AS v FROM inputs WHERE title LIKE 'Idea kill-%'",
    )
    .await;
    let stored_ids: HashSet<&str> = stored.iter().map(String::as_str).collect();
    let lost = ids.difference(&stored_ids).count();
    let stored_twice = stored.len() - ids.len().min(stored.len());

    let recipients = managers.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (reported, notified, notified_twice) = loop {
        let reported = strings(
            &notifications_db,
            "SELECT input_id::text AS v FROM report_inputs WHERE title LIKE 'Idea kill-%'",
        )
        .await
        .iter()
        .filter(|id| ids.contains(id.as_str()))
        .count();
        let notified = strings(
            &notifications_db,
            "SELECT input_id::text || ' ' || user_id AS v FROM notifications \
             WHERE kind = 'input_posted' AND input_id IS NOT NULL",
        )
        .await;
        let notified: Vec<&String> = notified
            .iter()
            .filter(|row| row.split(' ').next().is_some_and(|id| ids.contains(id)))
            .collect();
        let distinct: HashSet<&&String> = notified.iter().collect();
        let caught_up = reported == ids.len() && distinct.len() == ids.len() * recipients;
        if caught_up || Instant::now() > deadline {
            break (reported, distinct.len(), notified.len() - distinct.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Outcome {
        lost,
        stored_twice,
        reported,
        recipients,
        notified,
        notified_twice,
    }
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.try_get::<String>("", "v").expect("a text"))
        .collect()
}
