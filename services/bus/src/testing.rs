//! Test support on the shared RabbitMQ: cutting a test's connections, and
//! removing what it declared.

/// Deletes `queues` and `exchange` from the broker at `amqp_url`, ignoring
/// what is already gone. Bounded: a broker exchange can go unanswered (a
/// connection's close, seen never to complete), and a test's cleanup must
/// not hang the run.
pub async fn delete_rabbit_objects(amqp_url: &str, exchange: &str, queues: &[String]) {
    let limit = std::time::Duration::from_secs(20);
    let deleted = tokio::time::timeout(limit, delete(amqp_url, exchange, queues)).await;
    if deleted.is_err() {
        eprintln!("removing {exchange} and its queues took over {limit:?}; left to the broker");
    }
}

async fn delete(amqp_url: &str, exchange: &str, queues: &[String]) {
    let Ok(connection) =
        lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await
    else {
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        for queue in queues {
            let _ = channel
                .queue_delete(
                    queue.as_str().into(),
                    lapin::options::QueueDeleteOptions::default(),
                )
                .await;
        }
        let _ = channel
            .exchange_delete(
                exchange.into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
    }
    // The deletions are done; a close that never completes is not waited
    // for long.
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        connection.close(200, "cleanup".into()),
    )
    .await;
}

/// Closes, on the broker's side, every AMQP connection whose name contains
/// `fragment` (the test's queue prefix), as a broker restart or a network
/// fault would. Fails if there is none.
pub async fn cut_broker_connections(fragment: &str) {
    let listing = tokio::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "pid",
            "client_properties",
            "-q",
            "--no-table-headers",
        ])
        .output()
        .await
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&listing.stdout);
    let pids: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(fragment))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        !pids.is_empty(),
        "no connection named {fragment} to cut in:\n{text}"
    );
    for pid in pids {
        let closed = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "fault injected by test"])
            .output()
            .await
            .expect("rabbitmqctl runs");
        assert!(
            closed.status.success(),
            "{}",
            String::from_utf8_lossy(&closed.stderr)
        );
    }
}
