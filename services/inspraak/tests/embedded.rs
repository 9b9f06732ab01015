//! `inspraak all` on a fresh data directory: the four services answer health
//! checks within seconds, and SIGTERM stops the platform cleanly.

use std::process::Stdio;
use std::time::{Duration, Instant};

use inspraak_tests::{health, wait_for_health};
use tonic_health::pb::health_check_response::ServingStatus;

const SERVICES: [&str; 4] = ["identity", "projects", "contributions", "notifications"];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

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
    let ports: Vec<u16> = SERVICES.iter().map(|_| free_port()).collect();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inspraak"));
    command
        .arg("all")
        .env("INSPRAAK_DATA_DIR", &data)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let admin_ports: Vec<u16> = SERVICES.iter().map(|_| free_port()).collect();
    for ((service, port), admin) in SERVICES.iter().zip(&ports).zip(&admin_ports) {
        command.env(
            format!("{}_GRPC_ADDR", service.to_uppercase()),
            format!("127.0.0.1:{port}"),
        );
        command.env(
            format!("{}_ADMIN_ADDR", service.to_uppercase()),
            format!("127.0.0.1:{admin}"),
        );
    }
    // Token verification in the embedded platform asks identity on this host.
    command.env("IDENTITY_URL", format!("http://127.0.0.1:{}", ports[0]));
    let started = Instant::now();
    let platform = command.spawn().expect("start inspraak all");

    for (service, port) in SERVICES.iter().zip(&ports) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "{service} never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_for_health(
            addr,
            service,
            ServingStatus::Serving,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(health(addr, "").await, ServingStatus::Serving);
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
    for admin in &admin_ports {
        let (status, body) = http_get(*admin, "/healthz").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = http_get(*admin, "/readyz").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, metrics) = http_get(admin_ports[0], "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("rpc_server_call_duration_seconds_bucket"),
        "the health checks above were measured:\n{metrics}"
    );
    assert!(metrics.contains("rpc_method=\"Check\""), "{metrics}");

    let pid = platform.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(15), platform.wait_with_output())
        .await
        .expect("stops within the drain timeout")
        .unwrap();
    assert!(output.status.success(), "exit status {:?}", output.status);

    // LOG_FORMAT=json: every line is one JSON object with a level and a message.
    let logs = String::from_utf8(output.stdout).expect("UTF-8 logs");
    let mut lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["message"].is_string(),
            "{line}"
        );
        lines += 1;
    }
    assert!(logs.contains("SIGTERM received"), "the shutdown is logged");
    assert!(lines >= 8, "only {lines} log lines");
    let _ = std::fs::remove_dir_all(&data);
}
