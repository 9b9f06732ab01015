//! A call still unanswered at its deadline is answered DEADLINE_EXCEEDED
//! and measured as such; a call whose caller goes away is measured as
//! CANCELLED. Neither goes unmeasured. (This binary owns the process's
//! global meter provider: its tests read one Prometheus registry.)

#[allow(dead_code)] // each test binary uses part of the support module
mod support;

use std::time::{Duration, Instant};

use inspraak_proto::testing::v1::SleepRequest;
use inspraak_proto::testing::v1::probe_client::ProbeClient;

/// The `rpc.server.call.duration` count of the Sleep method for `status`.
fn measured(status: &str) -> u64 {
    let text = inspraak_kit::telemetry::prometheus_text().unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("rpc_server_call_duration_seconds_count{"))
        .filter(|line| line.contains("rpc_method=\"inspraak.testing.v1.Probe/Sleep\""))
        .filter(|line| line.contains(&format!("rpc_status_code=\"{status}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn until_measured(status: &str, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while measured(status) < count {
        assert!(
            Instant::now() < deadline,
            "{status} measured {} times, expected {count}",
            measured(status)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sleep(millis: u32, deadline: Duration) -> tonic::Request<SleepRequest> {
    let mut request = tonic::Request::new(SleepRequest { millis });
    request.set_timeout(deadline);
    request
}

#[tokio::test]
async fn calls_past_their_deadline_or_abandoned_are_measured() {
    inspraak_kit::telemetry::install_metrics(None).expect("a meter provider");
    let running = support::start("probe").await;
    let mut client = ProbeClient::new(support::channel(running.addr).await);

    // Answered in time: OK.
    client
        .sleep(sleep(10, Duration::from_secs(5)))
        .await
        .expect("a quick call is answered");
    until_measured("OK", 1).await;

    // Past its deadline: the caller's own timer reports it (tonic's client
    // says CANCELLED "Timeout expired"), the server measures
    // DEADLINE_EXCEEDED, promptly.
    let started = Instant::now();
    let status = client
        .sleep(sleep(5_000, Duration::from_millis(300)))
        .await
        .expect_err("a call past its deadline fails");
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    until_measured("DEADLINE_EXCEEDED", 1).await;

    // Abandoned by its caller well before its deadline: CANCELLED.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        client.sleep(sleep(5_000, Duration::from_secs(30))),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up first");
    until_measured("CANCELLED", 1).await;
    assert_eq!(measured("DEADLINE_EXCEEDED"), 1);
    assert_eq!(measured("OK"), 1);

    running.shutdown.cancel();
}

#[test]
fn grpc_timeout_values_are_read_as_the_specification_writes_them() {
    use http::HeaderMap;
    let parse = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().expect("a header value"));
        inspraak_kit::grpc::grpc_timeout(&headers)
    };
    assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
    assert_eq!(parse("2M"), Some(Duration::from_secs(120)));
    assert_eq!(parse("3S"), Some(Duration::from_secs(3)));
    assert_eq!(parse("300m"), Some(Duration::from_millis(300)));
    assert_eq!(parse("7u"), Some(Duration::from_micros(7)));
    assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
    for bad in ["", "S", "10", "123456789S", "1x", "-1S", "1.5S"] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}
