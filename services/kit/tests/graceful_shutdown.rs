//! SIGTERM: readiness drops, the call in flight finishes, new calls are
//! refused. In a test binary of its own, because it signals its own process.

#[allow(dead_code)] // each test binary uses part of the support module
mod support;

use std::time::{Duration, Instant};

use inspraak_kit::grpc::Condition;
use inspraak_proto::testing::v1::SleepRequest;
use inspraak_proto::testing::v1::probe_client::ProbeClient;

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish() {
    let running = support::start("probe").await;
    for condition in [
        Condition::Migrated,
        Condition::Prepared,
        Condition::Database,
        Condition::Broker,
    ] {
        running.readiness.set(condition, true).await;
    }
    inspraak_kit::shutdown::cancel_on_signal(running.shutdown.clone()).unwrap();

    let mut client = ProbeClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap();
    let started = Instant::now();
    let in_flight = tokio::spawn(async move { client.sleep(SleepRequest { millis: 1500 }).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(2), running.shutdown.cancelled())
        .await
        .expect("SIGTERM cancels the service");
    // Readiness goes first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!running.readiness.is_ready());
    assert_eq!(running.readiness.unmet(), vec![Condition::NotDraining]);

    let answer = in_flight
        .await
        .unwrap()
        .expect("the call in flight completes");
    assert_eq!(answer.into_inner().slept_millis, 1500);
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // The server has stopped, within the drain timeout.
    tokio::time::timeout(Duration::from_secs(5), running.serving)
        .await
        .expect("stopped within the drain timeout")
        .unwrap()
        .unwrap();
    assert!(
        ProbeClient::connect(format!("http://{}", running.addr))
            .await
            .is_err()
    );
}
