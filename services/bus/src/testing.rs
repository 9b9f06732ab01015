//! Test support: removing what a test declared on the shared RabbitMQ.

/// Deletes `queues` and `exchange` from the broker at `amqp_url`, ignoring
/// what is already gone.
pub async fn delete_rabbit_objects(amqp_url: &str, exchange: &str, queues: &[String]) {
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
    let _ = connection.close(200, "cleanup".into()).await;
}
