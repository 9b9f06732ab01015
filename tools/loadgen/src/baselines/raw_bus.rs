//! The limit for the bus: publishing with confirms and consuming with acks
//! on the same RabbitMQ, with nothing else — no database, no outbox, no
//! inbox. Published as the relay publishes (persistent, mandatory, batches
//! of 500 whose confirms are awaited together) to a topic exchange, into a
//! durable quorum queue as the services declare theirs, consumed with the
//! services' default prefetch and one ack per message — or, for comparison
//! with the services' consumer, which acknowledges a committed batch with
//! one multiple ack where it can, one multiple ack per batch.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::time::Instant;

use crate::cpu::CpuProbe;
use crate::report::{Errors, Latencies, Measured, Mode};

/// Messages per confirmed batch, as the relay's default batch.
const BATCH: usize = 500;

/// How the baseline's consumer acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// One ack per message: the plain loop (`raw_bus`, the stated baseline).
    EachMessage,
    /// One multiple ack per this many messages, as the services' consumer
    /// acknowledges a committed batch at best (`raw_bus_batched_acks`).
    Batched(usize),
}

impl Acks {
    pub fn scenario(self) -> &'static str {
        match self {
            Self::EachMessage => "raw_bus",
            Self::Batched(_) => "raw_bus_batched_acks",
        }
    }

    /// Whether the `consumed`th message (from 1) of `count` is acknowledged
    /// now, and whether with `multiple`.
    fn ack_now(self, consumed: usize, count: usize) -> Option<bool> {
        match self {
            Self::EachMessage => Some(false),
            Self::Batched(every) => {
                (consumed.is_multiple_of(every.max(1)) || consumed == count).then_some(true)
            }
        }
    }
}

/// The size of an input-created envelope, roughly.
const BODY_BYTES: usize = 320;

pub struct RawBus {
    connection: Connection,
    publisher: Channel,
    consumer_channel: Channel,
    exchange: String,
    queue: String,
}

fn short(s: &str) -> ShortString {
    ShortString::from(s)
}

impl RawBus {
    /// An exchange and a queue of its own on the broker at `url`.
    pub async fn open(url: &str) -> Result<Self, String> {
        let connection = Connection::connect(
            url,
            ConnectionProperties::default()
                .with_connection_name(LongString::from("inspraak-loadgen-raw-bus")),
        )
        .await
        .map_err(|e| format!("connecting to RabbitMQ at {url}: {e}"))?;
        let exchange = inspraak_kit::testing::unique("inspraak.loadgen.raw_");
        let queue = format!("{exchange}.queue");
        let publisher = connection
            .create_channel()
            .await
            .map_err(|e| format!("a publishing channel: {e}"))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("confirm mode: {e}"))?;
        publisher
            .exchange_declare(
                short(&exchange),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("declaring {exchange}: {e}"))?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            short("x-queue-type"),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        publisher
            .queue_declare(short(&queue), QueueDeclareOptions::durable(), arguments)
            .await
            .map_err(|e| format!("declaring {queue}: {e}"))?;
        publisher
            .queue_bind(
                short(&queue),
                short(&exchange),
                short("#"),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("binding {queue}: {e}"))?;
        let consumer_channel = connection
            .create_channel()
            .await
            .map_err(|e| format!("a consuming channel: {e}"))?;
        consumer_channel
            .basic_qos(
                inspraak_bus::settings::DEFAULT_PREFETCH,
                BasicQosOptions::default(),
            )
            .await
            .map_err(|e| format!("prefetch: {e}"))?;
        Ok(Self {
            connection,
            publisher,
            consumer_channel,
            exchange,
            queue,
        })
    }

    /// Publishes `count` messages and waits until all were consumed (or
    /// `timeout` passed). Each message carries its send time, so the
    /// latencies are publish-to-consume.
    pub async fn measure(
        &self,
        run: usize,
        count: usize,
        acks: Acks,
        timeout: Duration,
        cpu: &CpuProbe,
    ) -> Result<Measured, String> {
        let tag = inspraak_kit::testing::unique("raw-bus-");
        let mut consumer = self
            .consumer_channel
            .basic_consume(
                short(&self.queue),
                short(&tag),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("consuming {}: {e}", self.queue))?;
        let meter = cpu.start().await;
        let started = Instant::now();
        let consuming = tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut errors = Errors::new();
            let mut consumed = 0usize;
            let deadline = started + timeout;
            while consumed < count {
                let next = tokio::time::timeout_at(deadline, consumer.next()).await;
                let delivery = match next {
                    Ok(Some(Ok(delivery))) => delivery,
                    Ok(Some(Err(_))) => {
                        *errors.entry("consume_error".to_owned()).or_default() += 1;
                        continue;
                    }
                    Ok(None) | Err(_) => break,
                };
                if let Some(sent) = delivery.data.get(..8).and_then(|b| b.try_into().ok()) {
                    let sent = Duration::from_nanos(u64::from_le_bytes(sent));
                    latencies.record(started.elapsed().saturating_sub(sent));
                }
                consumed += 1;
                if let Some(multiple) = acks.ack_now(consumed, count)
                    && delivery
                        .acker
                        .ack(BasicAckOptions { multiple })
                        .await
                        .is_err()
                {
                    *errors.entry("ack_error".to_owned()).or_default() += 1;
                }
            }
            (consumed, latencies, errors, started.elapsed())
        });
        let mut publish_errors = Errors::new();
        let mut sent = 0;
        while sent < count {
            let n = BATCH.min(count - sent);
            if let Err(reason) = self.publish_batch(started, n).await {
                *publish_errors.entry(reason).or_default() += 1;
            }
            sent += n;
        }
        let (consumed, latencies, mut errors, elapsed) = consuming
            .await
            .map_err(|e| format!("the raw bus consumer failed: {e}"))?;
        let cpu = meter.stop().await;
        let _ = self
            .consumer_channel
            .basic_cancel(short(&tag), lapin::options::BasicCancelOptions::default())
            .await;
        for (reason, n) in publish_errors {
            *errors.entry(reason).or_default() += n;
        }
        if consumed < count {
            *errors.entry("not_consumed_in_time".to_owned()).or_default() +=
                (count - consumed) as u64;
        }
        Ok(Measured {
            scenario: acks.scenario().to_owned(),
            run,
            mode: Mode::Batch,
            ok: consumed as u64,
            errors,
            elapsed,
            latencies,
            cpu: Some(cpu),
            extra: serde_json::json!({"batch": BATCH, "body_bytes": BODY_BYTES, "queue": "quorum", "prefetch": inspraak_bus::settings::DEFAULT_PREFETCH, "acks": format!("{acks:?}")}),
        })
    }

    /// One batch: every message published, then every confirm awaited.
    async fn publish_batch(&self, started: Instant, n: usize) -> Result<(), String> {
        let mut confirms = Vec::with_capacity(n);
        for _ in 0..n {
            let mut body = vec![0u8; BODY_BYTES];
            let at = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            body[..8].copy_from_slice(&at.to_le_bytes());
            let confirm = self
                .publisher
                .basic_publish(
                    short(&self.exchange),
                    short("loadgen.raw.published.v1"),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &body,
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_content_type(short("application/x-protobuf")),
                )
                .await
                .map_err(|_| "publish_error".to_owned())?;
            confirms.push(confirm);
        }
        let mut failure = None;
        for confirm in confirms {
            match confirm.await {
                Ok(Confirmation::Ack(None)) => {}
                Ok(_) => failure = Some("not_confirmed".to_owned()),
                Err(_) => failure = Some("confirm_error".to_owned()),
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Removes the queue and the exchange.
    pub async fn close(self) {
        let _ = self
            .publisher
            .queue_delete(short(&self.queue), QueueDeleteOptions::default())
            .await;
        let _ = self
            .publisher
            .exchange_delete(short(&self.exchange), ExchangeDeleteOptions::default())
            .await;
        let _ = self.connection.close(200, short("done")).await;
    }
}
