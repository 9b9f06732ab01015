//! RabbitMQ through lapin.
//!
//! One connection per broker handle, opened lazily and replaced after any
//! failure; callers (the relay, consumers, the connection monitor) retry with
//! back-off, so a broker restart costs a pause, never a message. Publishing
//! uses one confirm-mode channel; each subscription and each dead-letter
//! operation gets a channel of its own.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    PublisherConfirm,
};
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use super::unsettled::Unsettled;
use super::{
    Acker, BrokerError, Delivery, Headers, Outgoing, Peeked, QueueKind, QueueSpec, Target,
};

#[derive(Clone)]
pub struct AmqpBroker {
    inner: Arc<Inner>,
}

struct Inner {
    uri: String,
    /// Shown by `rabbitmqctl list_connections client_properties`, so
    /// operators (and fault tests) can tell whose connection is whose.
    connection_name: String,
    exchange: String,
    live: Mutex<Option<Live>>,
    /// Serialises publishing: returned (unroutable) messages are matched to
    /// confirms in arrival order, so two interleaved batches could blame each
    /// other's returns.
    publishing: Mutex<()>,
    connected: watch::Sender<bool>,
    consumer_tags: AtomicU64,
}

#[derive(Clone)]
struct Live {
    connection: Arc<Connection>,
    publisher: Channel,
}

impl Live {
    fn usable(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

fn connection_error(error: impl std::fmt::Display) -> BrokerError {
    BrokerError::Connection(error.to_string())
}

/// How long one exchange with the broker (connecting, opening a channel, a
/// declaration, a publish) may take. A connection cut at the wrong moment
/// can leave an exchange unanswered forever; bounded, it fails like any
/// lost connection and the caller reconnects.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a batch's confirms may take: the broker writes the messages to
/// disk first, so this is longer than one exchange.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// `operation`, or a connection error once `limit` has passed without an
/// answer.
async fn within<T>(
    limit: Duration,
    what: &str,
    operation: impl Future<Output = T>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(limit, operation).await.map_err(|_| {
        tracing::warn!(
            operation = what,
            ?limit,
            "the broker did not answer in time"
        );
        BrokerError::Connection(format!(
            "{what}: no answer from the broker within {limit:?}"
        ))
    })
}

fn short(s: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(s)
        .map_err(|_| BrokerError::Protocol(format!("{s:?} is longer than 255 bytes")))
}

impl AmqpBroker {
    /// A broker handle; nothing connects until first use.
    pub fn new(
        uri: impl Into<String>,
        connection_name: impl Into<String>,
        exchange: impl Into<String>,
    ) -> Self {
        let (connected, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                uri: uri.into(),
                connection_name: connection_name.into(),
                exchange: exchange.into(),
                live: Mutex::new(None),
                publishing: Mutex::new(()),
                connected,
                consumer_tags: AtomicU64::new(0),
            }),
        }
    }

    pub fn connected(&self) -> watch::Receiver<bool> {
        self.inner.connected.subscribe()
    }

    /// Connects if not connected; used by the connection monitor so that
    /// readiness recovers even when no traffic flows.
    pub async fn ensure_connected(&self) -> Result<(), BrokerError> {
        self.live().await.map(|_| ())
    }

    async fn live(&self) -> Result<Live, BrokerError> {
        let mut slot = self.inner.live.lock().await;
        if let Some(live) = slot.as_ref()
            && live.usable()
        {
            // An error on one channel (a passive declare of a missing queue,
            // say) is reported like a lost connection; the connection still
            // being usable says otherwise, so readiness comes back.
            self.inner
                .connected
                .send_if_modified(|up| !std::mem::replace(up, true));
            return Ok(live.clone());
        }
        *slot = None;
        match self.connect().await {
            Ok(live) => {
                *slot = Some(live.clone());
                self.inner.connected.send_replace(true);
                Ok(live)
            }
            Err(error) => {
                self.inner.connected.send_replace(false);
                Err(error)
            }
        }
    }

    async fn connect(&self) -> Result<Live, BrokerError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from(self.inner.connection_name.as_str()));
        let connection = within(
            EXCHANGE_TIMEOUT,
            "connecting",
            Connection::connect(&self.inner.uri, properties),
        )
        .await?
        .map_err(connection_error)?;
        // Events are sent only while someone listens; watch for the broker
        // closing the connection so readiness drops at once.
        let mut events = connection.events_listener();
        let connected = self.inner.connected.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let lapin::Event::Error(error) = event {
                    tracing::warn!(%error, "broker connection lost");
                    connected.send_replace(false);
                }
            }
        });
        let publisher = open_channel(&connection).await?;
        within(
            EXCHANGE_TIMEOUT,
            "selecting confirms",
            publisher.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?
        .map_err(connection_error)?;
        within(
            EXCHANGE_TIMEOUT,
            "declaring the exchange",
            publisher.exchange_declare(
                short(&self.inner.exchange)?,
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            ),
        )
        .await?
        .map_err(connection_error)?;
        tracing::info!(connection = %self.inner.connection_name, "connected to the broker");
        Ok(Live {
            connection: Arc::new(connection),
            publisher,
        })
    }

    /// Drops the connection after a failure so the next call reconnects.
    /// The old connection is closed in the background: a half-dead one may
    /// never answer, and reconnecting must not wait for it.
    async fn invalidate(&self) {
        if let Some(live) = self.take_live().await {
            tokio::spawn(async move { close_connection(&live, 320, "reconnecting").await });
        }
    }

    /// Closes the connection (shutdown).
    pub async fn close(&self) {
        if let Some(live) = self.take_live().await {
            close_connection(&live, 200, "shutting down").await;
        }
    }

    async fn take_live(&self) -> Option<Live> {
        let live = self.inner.live.lock().await.take();
        self.inner.connected.send_replace(false);
        live
    }

    pub async fn publish_confirmed(&self, batch: &[Outgoing]) -> Result<(), BrokerError> {
        if batch.is_empty() {
            return Ok(());
        }
        let _turn = self.inner.publishing.lock().await;
        let live = self.live().await?;
        let result = self.publish_on(&live.publisher, batch).await;
        if matches!(result, Err(BrokerError::Connection(_))) {
            self.invalidate().await;
        }
        result
    }

    async fn publish_on(&self, channel: &Channel, batch: &[Outgoing]) -> Result<(), BrokerError> {
        // Publish the whole batch, then wait for all confirms: one round trip
        // per batch instead of one per message.
        let mut confirms = Vec::with_capacity(batch.len());
        for message in batch {
            let (exchange, routing_key) = match &message.target {
                Target::Events => (self.inner.exchange.as_str(), message.routing_key.as_str()),
                Target::Queue(queue) => ("", queue.as_str()),
            };
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type(ShortString::from("application/x-protobuf"))
                .with_message_id(short(&message.message_id)?)
                .with_type(short(&message.routing_key)?)
                .with_headers(to_field_table(&message.headers, &message.routing_key));
            let confirm = within(
                EXCHANGE_TIMEOUT,
                "publishing",
                channel.basic_publish(
                    short(exchange)?,
                    short(routing_key)?,
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &message.body,
                    properties,
                ),
            )
            .await?
            .map_err(connection_error)?;
            confirms.push((message, confirm));
        }
        within(
            CONFIRM_TIMEOUT,
            "waiting for confirms",
            Self::confirmed(confirms),
        )
        .await?
    }

    /// The first failure among a batch's confirms, once every one arrived.
    async fn confirmed(confirms: Vec<(&Outgoing, PublisherConfirm)>) -> Result<(), BrokerError> {
        let mut failure = None;
        for (message, confirm) in confirms {
            let outcome = match confirm.await {
                Ok(Confirmation::Ack(None)) => Ok(()),
                Ok(Confirmation::Ack(Some(returned))) => Err(BrokerError::Unroutable {
                    routing_key: returned.delivery.routing_key.to_string(),
                }),
                Ok(Confirmation::Nack(_)) => Err(BrokerError::Nacked {
                    message_id: message.message_id.clone(),
                    reason: "the broker could not store it".to_owned(),
                }),
                Ok(Confirmation::NotRequested) => Err(BrokerError::Protocol(
                    "the publishing channel is not in confirm mode".to_owned(),
                )),
                Err(error) => Err(connection_error(error)),
            };
            // Keep awaiting the rest so no confirm is left dangling, but
            // report the first failure.
            if let Err(error) = outcome
                && failure.is_none()
            {
                failure = Some(error);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    pub async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BrokerError> {
        let live = self.live().await?;
        let channel = open_channel(&live.connection).await?;
        let result = within(
            EXCHANGE_TIMEOUT,
            "declaring a queue",
            self.declare_on(&channel, spec),
        )
        .await
        .and_then(|declared| declared);
        close_channel(&channel, "declared").await;
        result
    }

    async fn declare_on(&self, channel: &Channel, spec: &QueueSpec) -> Result<(), BrokerError> {
        // The dead-letter queue is classic on purpose: looking at dead letters
        // returns them to the queue, and quorum queues count such returns
        // against a delivery limit (20 by default since RabbitMQ 4), which
        // would silently drop a dead letter after twenty looks.
        channel
            .queue_declare(
                short(&spec.dead_letter_queue)?,
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                BrokerError::Protocol(format!("declaring {}: {e}", spec.dead_letter_queue))
            })?;

        let mut arguments = FieldTable::default();
        arguments.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(LongString::from(spec.dead_letter_queue.as_str())),
        );
        if spec.kind == QueueKind::Quorum {
            arguments.insert(
                ShortString::from("x-queue-type"),
                AMQPValue::LongString(LongString::from("quorum")),
            );
            arguments.insert(
                ShortString::from("x-delivery-limit"),
                AMQPValue::LongInt(i32::try_from(spec.delivery_limit).unwrap_or(i32::MAX)),
            );
            // The broker's own dead-lettering (after the delivery limit) must
            // not lose the message either.
            arguments.insert(
                ShortString::from("x-dead-letter-strategy"),
                AMQPValue::LongString(LongString::from("at-least-once")),
            );
            arguments.insert(
                ShortString::from("x-overflow"),
                AMQPValue::LongString(LongString::from("reject-publish")),
            );
        }
        channel
            .queue_declare(
                short(&spec.name)?,
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await
            .map_err(|e| BrokerError::Protocol(format!("declaring {}: {e}", spec.name)))?;
        for pattern in &spec.bindings {
            channel
                .queue_bind(
                    short(&spec.name)?,
                    short(&self.inner.exchange)?,
                    short(pattern)?,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| {
                    BrokerError::Protocol(format!("binding {} to {pattern}: {e}", spec.name))
                })?;
        }
        Ok(())
    }

    pub async fn subscribe(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<AmqpSubscription, BrokerError> {
        let live = self.live().await?;
        let channel = open_channel(&live.connection).await?;
        within(
            EXCHANGE_TIMEOUT,
            "setting the prefetch",
            channel.basic_qos(prefetch, BasicQosOptions::default()),
        )
        .await?
        .map_err(connection_error)?;
        let tag = format!(
            "{}-{}",
            self.inner.connection_name,
            self.inner.consumer_tags.fetch_add(1, Ordering::Relaxed)
        );
        let consumer = within(
            EXCHANGE_TIMEOUT,
            "subscribing",
            channel.basic_consume(
                short(queue)?,
                short(&tag)?,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?
        .map_err(connection_error)?;
        Ok(AmqpSubscription {
            connection: live.connection.clone(),
            channel,
            consumer,
            unsettled: Ledger::default(),
            lost: CancellationToken::new(),
        })
    }

    pub async fn peek(&self, queue: &str, max: usize) -> Result<(Vec<Peeked>, u64), BrokerError> {
        let live = self.live().await?;
        let channel = open_channel(&live.connection).await?;
        let mut peeked = Vec::new();
        let mut total = 0;
        // Messages taken without an ack go back, in order, when the channel
        // closes: that is what makes this a look, not a take.
        while peeked.len() < max {
            match get(&channel, queue).await? {
                None => break,
                Some(message) => {
                    total = u64::from(message.message_count) + peeked.len() as u64 + 1;
                    peeked.push(to_peeked(&message.delivery));
                }
            }
        }
        if peeked.len() == max {
            total = total.max(count(&live, queue).await? + peeked.len() as u64);
        }
        close_channel(&channel, "peeked").await;
        Ok((peeked, total))
    }

    pub async fn move_messages(
        &self,
        from: &str,
        limit: usize,
        reroute: &(dyn Fn(&Peeked) -> Option<Outgoing> + Send + Sync),
    ) -> Result<Vec<String>, BrokerError> {
        let live = self.live().await?;
        let channel = open_channel(&live.connection).await?;
        let mut moved = Vec::new();
        let mut looked = 0;
        // Messages left unacked (not selected) return on close, so each one
        // is looked at once per call.
        while moved.len() < limit && looked < limit.saturating_mul(100).max(1000) {
            let Some(message) = get(&channel, from).await? else {
                break;
            };
            looked += 1;
            let peeked = to_peeked(&message.delivery);
            let Some(outgoing) = reroute(&peeked) else {
                continue;
            };
            // Publish first, confirmed, then remove: a crash in between leaves
            // a duplicate that consumers' inboxes absorb, never a loss.
            self.publish_confirmed(std::slice::from_ref(&outgoing))
                .await?;
            let acked = within(
                EXCHANGE_TIMEOUT,
                "removing a moved message",
                message
                    .delivery
                    .acker
                    .ack(lapin::options::BasicAckOptions::default()),
            )
            .await?
            .map_err(connection_error)?;
            if !acked {
                return Err(BrokerError::Connection(
                    "the channel closed before the moved message was removed".to_owned(),
                ));
            }
            moved.push(peeked.message_id);
        }
        close_channel(&channel, "moved").await;
        Ok(moved)
    }
}

async fn open_channel(connection: &Connection) -> Result<Channel, BrokerError> {
    within(
        EXCHANGE_TIMEOUT,
        "opening a channel",
        connection.create_channel(),
    )
    .await?
    .map_err(connection_error)
}

/// Best effort: the broker may already have closed it.
async fn close_connection(live: &Live, code: u16, why: &str) {
    let _ = within(
        EXCHANGE_TIMEOUT,
        "closing the connection",
        live.connection.close(code, ShortString::from(why)),
    )
    .await;
}

/// Best effort: a channel on a lost connection is gone anyway.
async fn close_channel(channel: &Channel, why: &str) {
    let _ = within(
        EXCHANGE_TIMEOUT,
        "closing a channel",
        channel.close(200, ShortString::from(why)),
    )
    .await;
}

async fn get(channel: &Channel, queue: &str) -> Result<Option<BasicGetMessage>, BrokerError> {
    within(
        EXCHANGE_TIMEOUT,
        "reading a queue",
        channel.basic_get(short(queue)?, BasicGetOptions { no_ack: false }),
    )
    .await?
    .map_err(|e| {
        if is_not_found(&e) {
            BrokerError::NoSuchQueue(queue.to_owned())
        } else {
            BrokerError::Protocol(format!("reading {queue}: {e}"))
        }
    })
}

/// The broker's 404: the queue does not exist.
fn is_not_found(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404)
}

/// Ready messages in a queue (a passive declare, on a throwaway channel since
/// a missing queue closes the channel).
async fn count(live: &Live, queue: &str) -> Result<u64, BrokerError> {
    let channel = open_channel(&live.connection).await?;
    let declared = within(
        EXCHANGE_TIMEOUT,
        "counting a queue",
        channel.queue_declare(
            short(queue)?,
            QueueDeclareOptions::default().passive(),
            FieldTable::default(),
        ),
    )
    .await?
    .map_err(|e| BrokerError::Protocol(format!("counting {queue}: {e}")))?;
    close_channel(&channel, "counted").await;
    Ok(u64::from(declared.message_count()))
}

/// Our headers are strings; the routing key travels as a header too so that a
/// message moved between queues keeps it.
fn to_field_table(headers: &Headers, routing_key: &str) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in headers {
        if let Ok(key) = ShortString::try_new(key.as_str()) {
            table.insert(key, AMQPValue::LongString(LongString::from(value.as_str())));
        }
    }
    table.insert(
        ShortString::from(ROUTING_KEY_HEADER),
        AMQPValue::LongString(LongString::from(routing_key)),
    );
    table
}

const ROUTING_KEY_HEADER: &str = "x-inspraak-routing-key";

fn from_field_table(table: Option<&FieldTable>) -> Headers {
    let mut headers = Headers::new();
    let Some(table) = table else { return headers };
    for (key, value) in table.inner() {
        let text = match value {
            AMQPValue::LongString(s) => Some(s.to_string()),
            AMQPValue::ShortString(s) => Some(s.to_string()),
            AMQPValue::LongInt(n) => Some(n.to_string()),
            AMQPValue::LongLongInt(n) => Some(n.to_string()),
            AMQPValue::LongUInt(n) => Some(n.to_string()),
            AMQPValue::ShortInt(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(text) = text {
            headers.insert(key.to_string(), text);
        }
    }
    headers
}

fn to_peeked(delivery: &lapin::message::Delivery) -> Peeked {
    let headers = from_field_table(delivery.properties.headers().as_ref());
    Peeked {
        routing_key: original_routing_key(&headers, delivery),
        message_id: message_id(delivery),
        headers,
        body: delivery.data.clone(),
    }
}

fn original_routing_key(headers: &Headers, delivery: &lapin::message::Delivery) -> String {
    headers
        .get(ROUTING_KEY_HEADER)
        .cloned()
        .unwrap_or_else(|| delivery.routing_key.to_string())
}

fn message_id(delivery: &lapin::message::Delivery) -> String {
    delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

pub struct AmqpSubscription {
    connection: Arc<Connection>,
    channel: Channel,
    consumer: lapin::Consumer,
    /// The deliveries handed out and not yet settled, shared with their
    /// ackers.
    unsettled: Ledger,
    /// Cancelled once the subscription failed: it yields nothing more, and
    /// its deliveries' acks stop waiting (the broker redelivers them).
    lost: CancellationToken,
}

/// How often a quiet subscription checks that its connection still lives.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

impl AmqpSubscription {
    /// The next delivery; an error when the connection or channel is lost,
    /// and then `None`. A connection cut at the wrong moment does not always
    /// reach the consumer's stream, so a quiet subscription also looks at the
    /// connection's state: a consumer must never wait forever on a dead one.
    pub async fn next(&mut self) -> Option<Result<Delivery, BrokerError>> {
        if self.lost.is_cancelled() {
            return None;
        }
        let delivery = loop {
            tokio::select! {
                next = self.consumer.next() => break next,
                () = tokio::time::sleep(LIVENESS_CHECK) => {
                    if !(self.connection.status().connected() && self.channel.status().connected()) {
                        self.lost.cancel();
                        return Some(Err(BrokerError::Connection(
                            "the subscription's connection is closed".to_owned(),
                        )));
                    }
                }
            }
        };
        let delivery = match delivery {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => {
                self.lost.cancel();
                return Some(Err(connection_error(error)));
            }
            None => {
                self.lost.cancel();
                return None;
            }
        };
        let headers = from_field_table(delivery.properties.headers().as_ref());
        self.unsettled.lock().await.delivered(delivery.delivery_tag);
        Some(Ok(Delivery {
            routing_key: original_routing_key(&headers, &delivery),
            message_id: message_id(&delivery),
            headers,
            redelivered: delivery.redelivered,
            body: delivery.data,
            acker: Acker::Amqp(AmqpAcker {
                acker: delivery.acker,
                tag: delivery.delivery_tag,
                unsettled: self.unsettled.clone(),
                lost: self.lost.clone(),
            }),
        }))
    }
}

impl Drop for AmqpSubscription {
    fn drop(&mut self) {
        self.lost.cancel();
    }
}

/// A subscription's unsettled deliveries. The lock is held while the acks
/// it decides on are handed to the connection, so that a multiple ack
/// decided later cannot overtake (and so repeat) a single one decided
/// before it.
type Ledger = Arc<Mutex<Unsettled>>;

/// Settles one delivery on the channel that delivered it.
#[derive(Debug)]
pub(super) struct AmqpAcker {
    acker: lapin::Acker,
    tag: u64,
    unsettled: Ledger,
    /// The subscription's: once it is lost, an ack cannot reach the broker,
    /// and lapin may never say so (the frame waits for a socket that is
    /// gone). The broker redelivers the message to the next subscription.
    lost: CancellationToken,
}

impl AmqpAcker {
    pub(super) async fn ack(self) -> Result<(), BrokerError> {
        Self::ack_all(vec![self]).await
    }

    /// Acknowledges `ackers` with as few frames as is safe (see
    /// `unsettled`): one multiple ack where nothing older is still in hand.
    /// Returns the first failure; the others were still tried.
    pub(super) async fn ack_all(mut ackers: Vec<Self>) -> Result<(), BrokerError> {
        let mut failure = None;
        // Deliveries of several subscriptions (one lost, its successor
        // live) are settled per subscription.
        while let Some(first) = ackers.first() {
            let ledger = first.unsettled.clone();
            let (same, others): (Vec<Self>, Vec<Self>) = ackers
                .into_iter()
                .partition(|acker| Arc::ptr_eq(&acker.unsettled, &ledger));
            ackers = others;
            let mut unsettled = ledger.lock().await;
            let tags: Vec<u64> = same.iter().map(|acker| acker.tag).collect();
            let settlement = unsettled.settle(&tags);
            for acker in &same {
                let Some(multiple) = settlement.frame(acker.tag) else {
                    continue;
                };
                let sent = acker
                    .settle(
                        "acknowledging",
                        acker
                            .acker
                            .ack(lapin::options::BasicAckOptions { multiple }),
                    )
                    .await;
                if let Err(error) = sent {
                    failure.get_or_insert(error);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    pub(super) async fn requeue(self) -> Result<(), BrokerError> {
        let mut unsettled = self.unsettled.lock().await;
        unsettled.forget(self.tag);
        self.settle(
            "requeueing",
            self.acker.nack(lapin::options::BasicNackOptions {
                requeue: true,
                ..Default::default()
            }),
        )
        .await
    }

    async fn settle(
        &self,
        what: &str,
        sent: impl Future<Output = lapin::Result<bool>>,
    ) -> Result<(), BrokerError> {
        let gone = || {
            BrokerError::Connection(
                "the delivering channel is closed; the broker will redeliver".to_owned(),
            )
        };
        tokio::select! {
            sent = within(EXCHANGE_TIMEOUT, what, sent) => match sent? {
                Ok(true) => Ok(()),
                // lapin's word for "the channel is gone".
                Ok(false) => Err(gone()),
                Err(error) => Err(connection_error(error)),
            },
            () = self.lost.cancelled() => Err(gone()),
        }
    }
}
