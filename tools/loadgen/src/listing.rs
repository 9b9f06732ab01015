//! Listing inputs on a project with a million of them: the first page and
//! the thousandth page of the default listing, through the real gRPC server
//! (authentication and telemetry on) on PostgreSQL.

use std::time::{Duration, Instant};

use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer};
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use sea_orm::ConnectionTrait;

use crate::report::{Latencies, Outcome};

pub struct Options {
    pub inputs: u64,
    pub requests: u64,
}

/// Fills the projection with one published public project and an open
/// ideation phase, and `count` inputs in it (ids sort like UUIDv7: the
/// newest has the highest id).
async fn seed(
    db: &sea_orm::DatabaseConnection,
    project: uuid::Uuid,
    phase: uuid::Uuid,
    count: u64,
) {
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
                    'resident-' || (i % 5000), 'proposed', NULL, false, now() - (({count} - i) || ' seconds')::interval, \
                    now() + interval '14 days', now(), NULL, 1, i::double precision / 45000 \
             FROM generate_series(1, {count}) AS i"
        ),
        "ANALYZE inputs".to_owned(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("seeding: {e}"));
    }
}

async fn page(
    client: &mut ContributionsClient<tonic::transport::Channel>,
    project: &str,
    token: &str,
) -> Result<proto::ListInputsResponse, tonic::Status> {
    client
        .list_inputs(proto::ListInputsRequest {
            project_id: project.to_owned(),
            page_size: 20,
            page_token: token.to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn run(options: &Options) {
    let database = TestDatabase::postgres().await;
    let shared = Shared::new().await;
    let server = TestServer::start(
        ContributionsService::new(ContributionsSettings::defaults()),
        &database,
        &shared,
    )
    .await;
    let db = server.running.context.db.clone();
    let project = uuid::Uuid::now_v7();
    let phase = uuid::Uuid::now_v7();
    let seeding = Instant::now();
    seed(&db, project, phase, options.inputs).await;
    println!(
        "seeded {} inputs in {:.1} s",
        options.inputs,
        seeding.elapsed().as_secs_f64()
    );
    let mut client = ContributionsClient::new(server.channel.clone());
    let project = project.to_string();

    // The thousandth page's token, walked to honestly.
    let mut token = String::new();
    for _ in 0..999 {
        token = page(&mut client, &project, &token)
            .await
            .unwrap_or_else(|e| panic!("walking to page 1000: {e}"))
            .next_page_token;
    }
    let thousandth = token;

    for (scenario, token) in [
        ("listing_first_page", String::new()),
        ("listing_page_1000", thousandth),
    ] {
        // Warm the caches and the connection pool.
        for _ in 0..100 {
            let _ = page(&mut client, &project, &token).await;
        }
        let mut latencies = Latencies::default();
        let mut errors = 0;
        let started = Instant::now();
        for _ in 0..options.requests {
            let sent = Instant::now();
            match page(&mut client, &project, &token).await {
                Ok(listed) if listed.inputs.len() == 20 => latencies.record(sent.elapsed()),
                _ => errors += 1,
            }
        }
        Outcome {
            scenario,
            requests: latencies.count(),
            errors,
            elapsed: started.elapsed(),
            latencies: &latencies,
            extra: serde_json::json!({"inputs": options.inputs, "page_size": 20, "concurrency": 1}),
        }
        .print();
    }
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}
