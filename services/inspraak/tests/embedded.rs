//! `inspraak all` on a fresh data directory: the four services answer health
//! checks within seconds, and SIGTERM stops the platform cleanly.

use std::process::Stdio;
use std::time::{Duration, Instant};

use inspraak_tests::{health, wait_for_health};
use tonic_health::pb::health_check_response::ServingStatus;

const SERVICES: [&str; 4] = ["identity", "projects", "contributions", "notifications"];

/// A plain HTTP/1.1 GET: the status code and the body.
async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn all_starts_the_four_services_and_stops_on_sigterm() {
    let data = std::env::temp_dir().join(inspraak_kit::testing::unique("inspraak-data-"));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inspraak"));
    command
        .arg("all")
        .env("INSPRAAK_DATA_DIR", &data)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        // Nothing here signs tokens: no need for identity's keys.
        .env("IDENTITY_URL", "http://127.0.0.1:1")
        .env("NOTIFICATIONS_UNSUBSCRIBE_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    // Port 0 everywhere: the platform says in its log where each service
    // listens, so no other test can take a port between choosing and binding.
    for service in SERVICES {
        command.env(
            format!("{}_GRPC_ADDR", service.to_uppercase()),
            "127.0.0.1:0",
        );
        command.env(
            format!("{}_ADMIN_ADDR", service.to_uppercase()),
            "127.0.0.1:0",
        );
    }
    let started = Instant::now();
    let mut platform = command.spawn().expect("start inspraak all");
    let stdout = platform.stdout.take().expect("piped stdout");
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = lines_tx.send(line.clone());
            all.push(line);
        }
        all
    });

    // Where each service listens, from the "listening" log lines.
    let mut listening = std::collections::HashMap::new();
    while listening.len() < SERVICES.len() {
        let line =
            tokio::time::timeout_at((started + Duration::from_secs(15)).into(), lines_rx.recv())
                .await
                .expect("all four services listen within 15 s")
                .expect("the platform is running");
        let entry: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if entry["message"] == "listening" {
            let service = entry["service"].as_str().expect("service").to_owned();
            let grpc: std::net::SocketAddr = entry["addr"]
                .as_str()
                .expect("addr")
                .parse()
                .expect("an address");
            let admin: std::net::SocketAddr = entry["admin"]
                .as_str()
                .expect("admin")
                .parse()
                .expect("an address");
            listening.insert(service, (grpc, admin));
        }
    }

    for service in SERVICES {
        let (grpc, _) = listening[service];
        wait_for_health(
            grpc,
            service,
            ServingStatus::Serving,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(health(grpc, "").await, ServingStatus::Serving);
    }
    println!(
        "all four services ready {:.2}s after start",
        started.elapsed().as_secs_f64()
    );
    for service in SERVICES {
        assert!(
            data.join(format!("{service}.db")).exists(),
            "{service} has its own SQLite file"
        );
    }
    assert!(
        data.join("bus.db").exists(),
        "the embedded broker keeps its queues on disk"
    );

    // The admin port speaks plain HTTP for tools without gRPC health.
    for service in SERVICES {
        let (_, admin) = listening[service];
        let (status, body) = http_get(admin.port(), "/healthz").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = http_get(admin.port(), "/readyz").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, metrics) = http_get(listening["identity"].1.port(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("rpc_server_call_duration_seconds_bucket"),
        "the health checks above were measured:\n{metrics}"
    );
    assert!(
        metrics.contains("rpc_method=\"grpc.health.v1.Health/Check\""),
        "{metrics}"
    );
    // The relays report their outboxes (empty here).
    assert!(
        metrics.contains("inspraak_bus_outbox_backlog{")
            && metrics.contains("inspraak_bus_outbox_oldest_age_seconds{"),
        "{metrics}"
    );
    // Every database statement is timed (the migrations and the relays'
    // polls ran already), named by the conventions.
    assert!(
        metrics.contains("db_client_operation_duration_seconds_bucket{")
            && metrics.contains("db_system_name=\"sqlite\"")
            && metrics.contains("db_operation_name=\"SELECT\""),
        "{metrics}"
    );

    assert!(
        metrics.contains("inspraak_bus_consumer_lag{"),
        "each consumer's queue depth:\n{metrics}"
    );
    let (_, projects) = http_get(listening["projects"].1.port(), "/metrics").await;
    assert!(
        projects.contains("inspraak_projects_active{")
            || projects.contains("inspraak_projects_active "),
        "the platform dashboard's active projects:\n{projects}"
    );

    let pid = platform.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), platform.wait())
        .await
        .expect("stops within the drain timeout")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    // LOG_FORMAT=json: every line is one JSON object with a level and a message.
    let lines = reader.await.expect("the log reader");
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["message"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("SIGTERM received")),
        "the shutdown is logged"
    );
    assert!(lines.len() >= 8, "only {} log lines", lines.len());
    let _ = std::fs::remove_dir_all(&data);
}
