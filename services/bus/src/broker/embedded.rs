//! The embedded broker: RabbitMQ's promises kept by a queue store in its own
//! SQLite database inside the process, for the embedded platform.
//!
//! Every queued message is a row in `messages`. A publish stores the rows of
//! a whole batch in one transaction and only then returns, so a crash of the
//! process never loses a confirmed message (WAL with `synchronous = NORMAL`
//! survives a process crash; only an OS crash or power loss could lose the
//! last commits, which FULL would cost an fsync per commit to prevent).
//!
//! A delivery marks its row `unacked` and owned by the subscription that took
//! it; an ack deletes the row, a requeue (or a lost consumer) puts it back to
//! `ready` with its delivery count raised, which is what makes the next
//! delivery `redelivered`. Rows still `unacked` when the store is opened were
//! held by a process that died, so opening returns them to `ready`.
//!
//! Waiting consumers are woken through one [`Notify`] per queue (publish, ack,
//! requeue and dead-lettering all signal it) and, as a safety net against a
//! missed signal, re-check the queue every [`RECHECK_INTERVAL`]; nothing ever
//! polls in a tight loop.
//!
//! One store belongs to one broker: opening the same database file from two
//! brokers at once is not supported (each would hand the other's in-flight
//! deliveries back to their queues when it opens).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    Value,
};
use tokio::sync::{Notify, watch};

use super::topic::topic_matches;
use super::{
    Acker, BrokerError, Delivery, Headers, Outgoing, Peeked, QueueKind, QueueSpec, Target,
};

/// How often a waiting consumer re-checks its queue even without a wake-up:
/// a safety net, wake-ups normally come through the queue's [`Notify`].
const RECHECK_INTERVAL: Duration = Duration::from_millis(200);

/// How long SQLite waits for a lock held by another connection before
/// failing with SQLITE_BUSY (only tools opening the file alongside us).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the broker itself dead-lettered a message (with the same marks the
/// consumers' own dead-lettering writes, see `crate::dead_letter`, so a replay
/// sends it back to its queue).
const DELIVERY_LIMIT_REACHED: &str = "delivery limit reached";

/// The store's schema, created on open. `AUTOINCREMENT` keeps message ids
/// growing even after the newest rows were deleted, so id order is publish
/// order for the life of the store.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    dead_letter_queue TEXT NOT NULL DEFAULT '',
    delivery_limit INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bindings (
    queue TEXT NOT NULL,
    pattern TEXT NOT NULL,
    PRIMARY KEY (queue, pattern)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'unacked')),
    subscription INTEGER NULL
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, state, id);
CREATE INDEX IF NOT EXISTS messages_by_subscription ON messages (subscription)
    WHERE subscription IS NOT NULL;
";

/// The columns [`StoredMessage::from_row`] reads.
const MESSAGE_COLUMNS: &str = "id, routing_key, message_id, headers, body, delivery_count";

/// A broker whose queues live in a SQLite database of their own. Cheap to
/// clone: clones share the store, the wake-ups and the subscriptions.
#[derive(Clone)]
pub struct EmbeddedBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// One connection: SQLite has one writer anyway, and a single connection
    /// rules out "database is locked" between our own connections.
    db: DatabaseConnection,
    /// For an in-memory store, a connection that is never used and only
    /// keeps the database alive (see [`connect`]).
    _keeper: Option<Mutex<SqliteConnection>>,
    /// Wakes the consumers waiting on a queue, by queue name.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// The id the next subscription gets; ids only grow.
    next_subscription: AtomicI64,
    /// Every subscription with a smaller id lost its (simulated) connection.
    /// A watch so that waiting consumers notice at once.
    dead_below: watch::Sender<i64>,
    /// Always true: there is no connection to lose.
    connected: watch::Sender<bool>,
}

impl fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field(
                "next_subscription",
                &self.inner.next_subscription.load(Ordering::Relaxed),
            )
            .field("dead_below", &*self.inner.dead_below.borrow())
            .finish_non_exhaustive()
    }
}

impl EmbeddedBroker {
    /// Opens (creating if needed) the queue store at a SQLite URL such as
    /// `sqlite://data/bus.db?mode=rwc` or `sqlite::memory:`.
    ///
    /// Messages a previous process held unacknowledged when it died go back
    /// to their queues, marked redelivered, as RabbitMQ does when a
    /// consumer's connection drops.
    pub async fn open(url: &str) -> Result<Self, BrokerError> {
        let (db, keeper) = connect(url).await?;
        db.execute_unprepared(SCHEMA)
            .await
            .map_err(db_err("creating the queue store's tables"))?;
        let returned = db
            .execute_raw(stmt(
                "UPDATE messages SET state = 'ready', subscription = NULL, \
                 delivery_count = delivery_count + 1 WHERE state = 'unacked'",
                [],
            ))
            .await
            .map_err(db_err("returning unacknowledged messages to their queues"))?
            .rows_affected();
        if returned > 0 {
            tracing::info!(
                returned,
                "embedded broker: returned messages a previous process left unacknowledged"
            );
        }
        let (dead_below, _) = watch::channel(1);
        let (connected, _) = watch::channel(true);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                _keeper: keeper,
                wakers: Mutex::new(HashMap::new()),
                next_subscription: AtomicI64::new(1),
                dead_below,
                connected,
            }),
        })
    }

    /// Stores every message of the batch in every queue its routing key
    /// reaches, all in one transaction, and returns once it is committed.
    /// A message that reaches no queue fails the whole batch with
    /// [`BrokerError::Unroutable`] and nothing is stored.
    pub async fn publish_confirmed(&self, batch: &[Outgoing]) -> Result<(), BrokerError> {
        if batch.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        let result = insert_batch(&txn, batch).await;
        let touched = finish(txn, result).await?;
        self.wake_queues(&touched);
        Ok(())
    }

    /// Declares the queue, its dead-letter queue (a plain queue without
    /// bindings or dead-lettering of its own) and its bindings. Idempotent:
    /// redeclaring updates the queue's settings and adds missing bindings;
    /// like RabbitMQ, it never removes a binding.
    pub async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BrokerError> {
        let txn = self.begin_write().await?;
        let result = upsert_queue(&txn, spec).await;
        finish(txn, result).await
    }

    /// Starts consuming `queue` with at most `prefetch` unacknowledged
    /// deliveries at a time (0: no limit, as in AMQP).
    pub async fn subscribe(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<EmbeddedSubscription, BrokerError> {
        if queue_config(&self.inner.db, queue).await?.is_none() {
            return Err(not_declared(queue));
        }
        let id = self.inner.next_subscription.fetch_add(1, Ordering::SeqCst);
        Ok(EmbeddedSubscription {
            broker: self.clone(),
            queue: queue.to_owned(),
            id,
            prefetch,
            dead_below: self.inner.dead_below.subscribe(),
        })
    }

    /// Up to `max` messages from the head of `queue` (delivered or not), left
    /// untouched, and the number of messages the queue holds.
    pub async fn peek(&self, queue: &str, max: usize) -> Result<(Vec<Peeked>, u64), BrokerError> {
        // A read transaction so that the messages and the count agree.
        let txn = self
            .inner
            .db
            .begin()
            .await
            .map_err(db_err("starting a read transaction"))?;
        let result = peek_in(&txn, queue, max).await;
        finish(txn, result).await
    }

    /// Moves up to `limit` ready messages from the head of `from`: for each,
    /// `reroute` says where it goes (`None` leaves it in place). The copies
    /// are stored and the originals deleted in one transaction, so a message
    /// is never lost nor duplicated. Returns the moved messages' ids. A
    /// rerouted message that reaches no queue fails the whole move with
    /// [`BrokerError::Unroutable`] and nothing moves.
    pub async fn move_messages(
        &self,
        from: &str,
        limit: usize,
        reroute: &(dyn Fn(&Peeked) -> Option<Outgoing> + Send + Sync),
    ) -> Result<Vec<String>, BrokerError> {
        let txn = self.begin_write().await?;
        let result = move_in(&txn, from, limit, reroute).await;
        let (moved, touched) = finish(txn, result).await?;
        self.wake_queues(&touched);
        Ok(moved)
    }

    /// Whether the broker is reachable: always, it lives in the process.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.inner.connected.subscribe()
    }

    /// Simulates the loss of every consumer connection (for fault tests):
    /// every live subscription's `next()` returns `None` from now on, the
    /// messages delivered to them and not yet acked go back to ready (marked
    /// redelivered, delivery count +1), and acks and requeues of those old
    /// deliveries fail with [`BrokerError::Connection`].
    ///
    /// The subscriptions die at once; their messages return to their queues
    /// shortly after, in a background task (this function is not async),
    /// which then wakes the waiting consumers.
    pub fn disconnect_all(&self) {
        let boundary = self.inner.next_subscription.load(Ordering::SeqCst);
        self.inner
            .dead_below
            .send_modify(|dead_below| *dead_below = (*dead_below).max(boundary));
        // Any claim that commits from now on sees the new boundary inside its
        // transaction and backs off, so once this reset has run no dead
        // subscription can hold a message.
        let broker = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = broker.return_unacked_below(boundary).await {
                        tracing::error!(%error, "embedded broker: returning the disconnected consumers' messages failed; they return on the next open");
                    }
                });
            }
            Err(_) => tracing::error!(
                "embedded broker: disconnect_all outside a Tokio runtime; the disconnected consumers' messages return on the next open"
            ),
        }
    }

    /// Puts the messages held by subscriptions below `boundary` back to
    /// ready, counting the lost delivery, and wakes every queue's consumers.
    async fn return_unacked_below(&self, boundary: i64) -> Result<(), BrokerError> {
        self.inner
            .db
            .execute_raw(stmt(
                "UPDATE messages SET state = 'ready', subscription = NULL, \
                 delivery_count = delivery_count + 1 \
                 WHERE state = 'unacked' AND subscription < ?",
                [boundary.into()],
            ))
            .await
            .map_err(db_err("returning the disconnected consumers' messages"))?;
        self.wake_every_queue();
        Ok(())
    }

    /// Whether the subscription `id` lost its connection.
    fn is_disconnected(&self, id: i64) -> bool {
        id < *self.inner.dead_below.borrow()
    }

    /// Begins a transaction that takes SQLite's write lock at once, so that
    /// what it read cannot change before it writes.
    async fn begin_write(&self) -> Result<DatabaseTransaction, BrokerError> {
        self.inner
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .map_err(db_err("starting a write transaction"))
    }

    /// The signal the consumers of `queue` wait on.
    fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(wakers.entry(queue.to_owned()).or_default())
    }

    /// Wakes the consumers waiting on each of `queues` (a queue nobody ever
    /// subscribed to has nobody to wake).
    fn wake_queues<'a>(&self, queues: impl IntoIterator<Item = &'a String>) {
        let wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for queue in queues {
            if let Some(waker) = wakers.get(queue) {
                waker.notify_waiters();
            }
        }
    }

    fn wake_every_queue(&self) {
        let wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for waker in wakers.values() {
            waker.notify_waiters();
        }
    }

    /// Tries to hand the oldest ready message of `queue` to subscription
    /// `id`, dead-lettering on the way the messages over their queue's
    /// delivery limit.
    async fn take(&self, queue: &str, id: i64, prefetch: u16) -> Result<Take, BrokerError> {
        let txn = self.begin_write().await?;
        let outcome = match self.claim_next(&txn, queue, id, prefetch).await {
            Ok(outcome) => outcome,
            Err(error) => {
                rollback(txn).await;
                return Err(error);
            }
        };
        // From here the claim is committed or (if this future is dropped or
        // the commit fails) released again by the guard: a consumer that
        // stops waiting half-way must not strand a message as unacked.
        let guard = match &outcome.claim {
            Claim::Message(message) => Some(ClaimGuard {
                broker: self.clone(),
                row: message.id,
                subscription: id,
                queue: queue.to_owned(),
                armed: true,
            }),
            _ => None,
        };
        txn.commit()
            .await
            .map_err(db_err("committing a delivery"))?;
        self.wake_queues(&outcome.dead_lettered);
        Ok(match outcome.claim {
            Claim::Message(message) => {
                if let Some(guard) = guard {
                    guard.defuse();
                }
                Take::Delivered(message.into_delivery(self.clone(), queue, id))
            }
            Claim::Wait => Take::Wait,
            Claim::Disconnected => Take::Disconnected,
        })
    }

    /// The part of [`Self::take`] inside its transaction.
    async fn claim_next(
        &self,
        txn: &DatabaseTransaction,
        queue: &str,
        id: i64,
        prefetch: u16,
    ) -> Result<ClaimOutcome, BrokerError> {
        let mut outcome = ClaimOutcome {
            claim: Claim::Wait,
            dead_lettered: BTreeSet::new(),
        };
        // Checked under the write lock: `disconnect_all` raises the boundary
        // before it returns messages, so either we see the boundary here or
        // its reset runs after our commit and returns what we claim.
        if self.is_disconnected(id) {
            outcome.claim = Claim::Disconnected;
            return Ok(outcome);
        }
        if prefetch > 0 && unacked_count(txn, id).await? >= u64::from(prefetch) {
            return Ok(outcome);
        }
        let config = queue_config(txn, queue)
            .await?
            .ok_or_else(|| not_declared(queue))?;
        while let Some(message) = oldest_ready(txn, queue).await? {
            if config.delivery_limit > 0 && message.delivery_count >= config.delivery_limit {
                if let Some(target) = dead_letter(txn, queue, &config, &message).await? {
                    outcome.dead_lettered.insert(target);
                }
                continue;
            }
            txn.execute_raw(stmt(
                "UPDATE messages SET state = 'unacked', subscription = ? WHERE id = ?",
                [id.into(), message.id.into()],
            ))
            .await
            .map_err(db_err("marking a message delivered"))?;
            outcome.claim = Claim::Message(message);
            return Ok(outcome);
        }
        Ok(outcome)
    }
}

/// A stream of deliveries from one queue.
pub struct EmbeddedSubscription {
    broker: EmbeddedBroker,
    queue: String,
    id: i64,
    prefetch: u16,
    dead_below: watch::Receiver<i64>,
}

impl fmt::Debug for EmbeddedSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedSubscription")
            .field("queue", &self.queue)
            .field("id", &self.id)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl EmbeddedSubscription {
    /// The next delivery, once the queue has a ready message and this
    /// subscription a free prefetch slot. `None` once the subscription was
    /// disconnected ([`EmbeddedBroker::disconnect_all`]); an error when the
    /// store failed. Cancel-safe: dropping the future never strands a
    /// message.
    pub async fn next(&mut self) -> Option<Result<Delivery, BrokerError>> {
        let waker = self.broker.waker(&self.queue);
        loop {
            if self.broker.is_disconnected(self.id) {
                return None;
            }
            // Registered before looking, so a wake-up between the look and
            // the wait is not missed.
            let woken = waker.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.broker.take(&self.queue, self.id, self.prefetch).await {
                Ok(Take::Delivered(delivery)) => return Some(Ok(delivery)),
                Ok(Take::Disconnected) => return None,
                Ok(Take::Wait) => {}
                Err(error) => return Some(Err(error)),
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(RECHECK_INTERVAL) => {}
                changed = self.dead_below.changed() => {
                    // The sender lives as long as the broker we hold, so an
                    // error cannot happen; treat it as a lost connection
                    // rather than spin on it.
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Settles one delivery of the embedded broker.
pub struct EmbeddedAcker {
    broker: EmbeddedBroker,
    /// The message's row.
    row: i64,
    /// The subscription the message was delivered to.
    subscription: i64,
    queue: String,
    message_id: String,
}

impl fmt::Debug for EmbeddedAcker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedAcker")
            .field("row", &self.row)
            .field("subscription", &self.subscription)
            .field("queue", &self.queue)
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

impl EmbeddedAcker {
    /// Removes the message from its queue. Fails with
    /// [`BrokerError::Connection`] when the subscription that received it was
    /// disconnected: the message then goes (or went) back to its queue.
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.settle(
            "DELETE FROM messages WHERE id = ? AND state = 'unacked' AND subscription = ?",
            "acknowledging a message",
        )
        .await
    }

    /// Gives the message back to its queue, at its old place, counting the
    /// delivery (so the next one is marked redelivered). Fails like
    /// [`Self::ack`].
    pub async fn requeue(self) -> Result<(), BrokerError> {
        self.settle(
            "UPDATE messages SET state = 'ready', subscription = NULL, \
             delivery_count = delivery_count + 1 \
             WHERE id = ? AND state = 'unacked' AND subscription = ?",
            "requeueing a message",
        )
        .await
    }

    /// Runs `sql` on the message if this delivery still owns it, then wakes
    /// the queue: a requeued message is ready again, and either way the
    /// subscription has a free prefetch slot.
    async fn settle(self, sql: &str, what: &'static str) -> Result<(), BrokerError> {
        if self.broker.is_disconnected(self.subscription) {
            return Err(self.lost());
        }
        let affected = self
            .broker
            .inner
            .db
            .execute_raw(stmt(sql, [self.row.into(), self.subscription.into()]))
            .await
            .map_err(db_err(what))?
            .rows_affected();
        if affected == 0 {
            return Err(self.lost());
        }
        self.broker.wake_queues([&self.queue]);
        Ok(())
    }

    fn lost(&self) -> BrokerError {
        BrokerError::Connection(format!(
            "the embedded broker consumer that received message {} from queue {:?} was disconnected; \
             the message is redelivered",
            self.message_id, self.queue
        ))
    }
}

/// What one attempt to deliver found.
enum Take {
    Delivered(Delivery),
    /// Nothing ready, or no free prefetch slot: wait for a wake-up.
    Wait,
    Disconnected,
}

enum Claim {
    Message(StoredMessage),
    Wait,
    Disconnected,
}

struct ClaimOutcome {
    claim: Claim,
    /// Queues that received dead-lettered messages, to wake after commit.
    dead_lettered: BTreeSet<String>,
}

/// Releases a claimed message unless defused: covers the window between
/// claiming a message and handing it to the consumer (a dropped `next()`
/// future or a failed commit).
struct ClaimGuard {
    broker: EmbeddedBroker,
    row: i64,
    subscription: i64,
    queue: String,
    armed: bool,
}

impl ClaimGuard {
    /// The consumer got the message: nothing to release.
    fn defuse(mut self) {
        self.armed = false;
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let broker = self.broker.clone();
        let (row, subscription, queue) =
            (self.row, self.subscription, std::mem::take(&mut self.queue));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                row,
                "embedded broker: cannot release an undelivered message outside a Tokio runtime; it returns on the next open"
            );
            return;
        };
        runtime.spawn(async move {
            // The consumer never saw the message: no delivery to count.
            let released = broker
                .inner
                .db
                .execute_raw(stmt(
                    "UPDATE messages SET state = 'ready', subscription = NULL \
                     WHERE id = ? AND state = 'unacked' AND subscription = ?",
                    [row.into(), subscription.into()],
                ))
                .await;
            match released {
                Ok(_) => broker.wake_queues([&queue]),
                Err(error) => tracing::error!(%error, row, "embedded broker: releasing an undelivered message failed; it returns on the next open"),
            }
        });
    }
}

/// A queue's dead-lettering settings.
struct QueueConfig {
    dead_letter_queue: String,
    delivery_limit: i64,
}

/// A message row as read from the store.
struct StoredMessage {
    id: i64,
    routing_key: String,
    message_id: String,
    headers: Headers,
    body: Vec<u8>,
    delivery_count: i64,
}

impl StoredMessage {
    /// Reads the [`MESSAGE_COLUMNS`] of a row.
    fn from_row(row: &QueryResult) -> Result<Self, BrokerError> {
        let read = "reading a stored message";
        let headers: String = row.try_get("", "headers").map_err(db_err(read))?;
        Ok(Self {
            id: row.try_get("", "id").map_err(db_err(read))?,
            routing_key: row.try_get("", "routing_key").map_err(db_err(read))?,
            message_id: row.try_get("", "message_id").map_err(db_err(read))?,
            headers: decode_headers(&headers)?,
            body: row.try_get("", "body").map_err(db_err(read))?,
            delivery_count: row.try_get("", "delivery_count").map_err(db_err(read))?,
        })
    }

    fn peeked(&self) -> Peeked {
        Peeked {
            routing_key: self.routing_key.clone(),
            message_id: self.message_id.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }

    fn into_delivery(self, broker: EmbeddedBroker, queue: &str, subscription: i64) -> Delivery {
        Delivery {
            redelivered: self.delivery_count > 0,
            acker: Acker::Embedded(EmbeddedAcker {
                broker,
                row: self.id,
                subscription,
                queue: queue.to_owned(),
                message_id: self.message_id.clone(),
            }),
            routing_key: self.routing_key,
            message_id: self.message_id,
            headers: self.headers,
            body: self.body,
        }
    }
}

/// Resolves the queues messages reach, reading the bindings and queues once
/// per transaction.
#[derive(Default)]
struct Router {
    bindings: Option<Vec<(String, String)>>,
    queues: HashMap<String, bool>,
}

impl Router {
    /// The queues `message` reaches; [`BrokerError::Unroutable`] when none.
    async fn route(
        &mut self,
        txn: &DatabaseTransaction,
        message: &Outgoing,
    ) -> Result<BTreeSet<String>, BrokerError> {
        let queues: BTreeSet<String> = match &message.target {
            Target::Events => self
                .bindings(txn)
                .await?
                .iter()
                .filter(|(_, pattern)| topic_matches(pattern, &message.routing_key))
                .map(|(queue, _)| queue.clone())
                .collect(),
            Target::Queue(name) => {
                if self.queue_exists(txn, name).await? {
                    BTreeSet::from([name.clone()])
                } else {
                    BTreeSet::new()
                }
            }
        };
        if queues.is_empty() {
            return Err(BrokerError::Unroutable {
                routing_key: message.routing_key.clone(),
            });
        }
        Ok(queues)
    }

    async fn bindings(
        &mut self,
        txn: &DatabaseTransaction,
    ) -> Result<&[(String, String)], BrokerError> {
        if self.bindings.is_none() {
            self.bindings = Some(load_bindings(txn).await?);
        }
        Ok(self.bindings.as_deref().unwrap_or(&[]))
    }

    async fn queue_exists(
        &mut self,
        txn: &DatabaseTransaction,
        name: &str,
    ) -> Result<bool, BrokerError> {
        if let Some(exists) = self.queues.get(name) {
            return Ok(*exists);
        }
        let exists = queue_config(txn, name).await?.is_some();
        self.queues.insert(name.to_owned(), exists);
        Ok(exists)
    }
}

/// Connects to the store with a pool of one connection, creating the
/// database file's directory if needed. The pragmas are connection options,
/// so they also apply to a connection the pool opens to replace one it
/// closed (sqlx may close a connection whose query was cancelled half-way,
/// which happens when a consumer stops waiting).
///
/// An in-memory database lives only as long as some connection to it, so
/// for one the store also opens a keeper connection outside the pool that
/// keeps it alive while the pool replaces its connection.
async fn connect(
    url: &str,
) -> Result<(DatabaseConnection, Option<Mutex<SqliteConnection>>), BrokerError> {
    if !url.starts_with("sqlite:") {
        return Err(BrokerError::Protocol(
            "the embedded broker's store needs a sqlite: URL".to_owned(),
        ));
    }
    let sqlite = SqliteConnectOptions::from_str(url)
        .map_err(|error| {
            BrokerError::Protocol(format!(
                "the embedded broker's store URL is invalid: {error}"
            ))
        })?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .disable_statement_logging();
    let in_memory = is_in_memory(url);
    if !in_memory {
        create_parent_dir(sqlite.get_filename())?;
    }
    let keeper = if in_memory {
        let connection = SqliteConnection::connect_with(&sqlite)
            .await
            .map_err(|error| {
                BrokerError::Connection(format!(
                    "embedded broker store, opening the in-memory database: {error}"
                ))
            })?;
        Some(Mutex::new(connection))
    } else {
        None
    };
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .sqlx_logging(false)
        // Our options rather than sea-orm's own parse of the URL: parsing
        // `sqlite::memory:` again would name a different in-memory database
        // than the keeper's.
        .map_sqlx_sqlite_opts(move |_| sqlite.clone());
    let db = Database::connect(options)
        .await
        .map_err(db_err("opening the embedded broker's store"))?;
    Ok((db, keeper))
}

/// Creates the directory of the database file (SQLite creates the file, not
/// its directory).
fn create_parent_dir(file: &std::path::Path) -> Result<(), BrokerError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|error| {
                BrokerError::Connection(format!(
                    "embedded broker store, creating the directory {}: {error}",
                    dir.display()
                ))
            }),
        _ => Ok(()),
    }
}

/// Whether `url` names an in-memory database, as sqlx reads it
/// (`sqlite::memory:`, `sqlite://:memory:` or `mode=memory`).
fn is_in_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

/// Stores each message of `batch` in every queue it reaches; returns those
/// queues.
async fn insert_batch(
    txn: &DatabaseTransaction,
    batch: &[Outgoing],
) -> Result<BTreeSet<String>, BrokerError> {
    let mut router = Router::default();
    let mut touched = BTreeSet::new();
    for message in batch {
        let queues = router.route(txn, message).await?;
        for queue in &queues {
            insert_message(txn, queue, message).await?;
        }
        touched.extend(queues);
    }
    Ok(touched)
}

/// Stores a fresh (never delivered) copy of `message` in `queue`.
async fn insert_message(
    txn: &DatabaseTransaction,
    queue: &str,
    message: &Outgoing,
) -> Result<(), BrokerError> {
    insert_row(
        txn,
        queue,
        &message.routing_key,
        &message.message_id,
        &message.headers,
        &message.body,
    )
    .await
}

async fn insert_row(
    txn: &DatabaseTransaction,
    queue: &str,
    routing_key: &str,
    message_id: &str,
    headers: &Headers,
    body: &[u8],
) -> Result<(), BrokerError> {
    txn.execute_raw(stmt(
        "INSERT INTO messages (queue, routing_key, message_id, headers, body, delivery_count, state) \
         VALUES (?, ?, ?, ?, ?, 0, 'ready')",
        [
            queue.into(),
            routing_key.into(),
            message_id.into(),
            encode_headers(headers).into(),
            body.to_vec().into(),
        ],
    ))
    .await
    .map_err(db_err("storing a message"))?;
    Ok(())
}

/// Upserts the queue and its dead-letter queue and adds missing bindings.
async fn upsert_queue(txn: &DatabaseTransaction, spec: &QueueSpec) -> Result<(), BrokerError> {
    let kind = kind_name(spec.kind);
    txn.execute_raw(stmt(
        "INSERT INTO queues (name, kind, dead_letter_queue, delivery_limit) VALUES (?, ?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
         dead_letter_queue = excluded.dead_letter_queue, delivery_limit = excluded.delivery_limit",
        [
            spec.name.as_str().into(),
            kind.into(),
            spec.dead_letter_queue.as_str().into(),
            i64::from(spec.delivery_limit).into(),
        ],
    ))
    .await
    .map_err(db_err("declaring a queue"))?;
    if !spec.dead_letter_queue.is_empty() && spec.dead_letter_queue != spec.name {
        // A queue declared on its own keeps its settings.
        txn.execute_raw(stmt(
            "INSERT INTO queues (name, kind, dead_letter_queue, delivery_limit) VALUES (?, ?, '', 0) \
             ON CONFLICT (name) DO NOTHING",
            [spec.dead_letter_queue.as_str().into(), kind.into()],
        ))
        .await
        .map_err(db_err("declaring a dead-letter queue"))?;
    }
    for pattern in &spec.bindings {
        txn.execute_raw(stmt(
            "INSERT INTO bindings (queue, pattern) VALUES (?, ?) ON CONFLICT (queue, pattern) DO NOTHING",
            [spec.name.as_str().into(), pattern.as_str().into()],
        ))
        .await
        .map_err(db_err("binding a queue"))?;
    }
    Ok(())
}

fn kind_name(kind: QueueKind) -> &'static str {
    match kind {
        QueueKind::Quorum => "quorum",
        QueueKind::Classic => "classic",
    }
}

async fn peek_in(
    txn: &DatabaseTransaction,
    queue: &str,
    max: usize,
) -> Result<(Vec<Peeked>, u64), BrokerError> {
    if queue_config(txn, queue).await?.is_none() {
        return Err(not_declared(queue));
    }
    let rows = txn
        .query_all_raw(stmt(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue = ? ORDER BY id LIMIT ?"),
            [queue.into(), sql_limit(max).into()],
        ))
        .await
        .map_err(db_err("peeking at a queue"))?;
    let peeked = rows
        .iter()
        .map(|row| StoredMessage::from_row(row).map(|message| message.peeked()))
        .collect::<Result<Vec<_>, _>>()?;
    let count = txn
        .query_one_raw(stmt(
            "SELECT COUNT(*) AS n FROM messages WHERE queue = ?",
            [queue.into()],
        ))
        .await
        .map_err(db_err("counting a queue's messages"))?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()
        .map_err(db_err("counting a queue's messages"))?
        .unwrap_or(0);
    Ok((peeked, u64::try_from(count).unwrap_or(0)))
}

/// The part of [`EmbeddedBroker::move_messages`] inside its transaction:
/// returns the moved ids and the queues that received messages.
async fn move_in(
    txn: &DatabaseTransaction,
    from: &str,
    limit: usize,
    reroute: &(dyn Fn(&Peeked) -> Option<Outgoing> + Send + Sync),
) -> Result<(Vec<String>, BTreeSet<String>), BrokerError> {
    if queue_config(txn, from).await?.is_none() {
        return Err(not_declared(from));
    }
    let rows = txn
        .query_all_raw(stmt(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue = ? AND state = 'ready' ORDER BY id LIMIT ?"
            ),
            [from.into(), sql_limit(limit).into()],
        ))
        .await
        .map_err(db_err("reading messages to move"))?;
    let mut router = Router::default();
    let mut moved = Vec::new();
    let mut touched = BTreeSet::new();
    for row in &rows {
        let message = StoredMessage::from_row(row)?;
        let Some(outgoing) = reroute(&message.peeked()) else {
            continue;
        };
        let queues = router.route(txn, &outgoing).await?;
        for queue in &queues {
            insert_message(txn, queue, &outgoing).await?;
        }
        delete_row(txn, message.id).await?;
        touched.extend(queues);
        moved.push(message.message_id);
    }
    Ok((moved, touched))
}

/// Moves `message` from `queue` to the queue's dead-letter queue with the
/// headers telling why, and returns that queue. Without a dead-letter queue
/// the message is dropped, as RabbitMQ does.
async fn dead_letter(
    txn: &DatabaseTransaction,
    queue: &str,
    config: &QueueConfig,
    message: &StoredMessage,
) -> Result<Option<String>, BrokerError> {
    delete_row(txn, message.id).await?;
    if config.dead_letter_queue.is_empty() {
        tracing::warn!(
            queue,
            message_id = %message.message_id,
            attempts = message.delivery_count,
            "embedded broker: delivery limit reached and the queue has no dead-letter queue; message dropped"
        );
        return Ok(None);
    }
    let mut headers = message.headers.clone();
    crate::dead_letter::mark(
        &mut headers,
        &crate::dead_letter::DeadLetterInfo {
            queue: queue.to_owned(),
            error: DELIVERY_LIMIT_REACHED.to_owned(),
            attempts: u32::try_from(message.delivery_count).unwrap_or(u32::MAX),
            at: chrono::Utc::now(),
        },
    );
    insert_row(
        txn,
        &config.dead_letter_queue,
        &message.routing_key,
        &message.message_id,
        &headers,
        &message.body,
    )
    .await?;
    tracing::warn!(
        queue,
        dead_letter_queue = %config.dead_letter_queue,
        message_id = %message.message_id,
        attempts = message.delivery_count,
        "embedded broker: delivery limit reached; message dead-lettered"
    );
    Ok(Some(config.dead_letter_queue.clone()))
}

async fn delete_row(txn: &DatabaseTransaction, id: i64) -> Result<(), BrokerError> {
    txn.execute_raw(stmt("DELETE FROM messages WHERE id = ?", [id.into()]))
        .await
        .map_err(db_err("removing a message from its queue"))?;
    Ok(())
}

async fn oldest_ready(
    txn: &DatabaseTransaction,
    queue: &str,
) -> Result<Option<StoredMessage>, BrokerError> {
    txn.query_one_raw(stmt(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue = ? AND state = 'ready' ORDER BY id LIMIT 1"),
        [queue.into()],
    ))
    .await
    .map_err(db_err("reading the head of a queue"))?
    .as_ref()
    .map(StoredMessage::from_row)
    .transpose()
}

async fn unacked_count(txn: &DatabaseTransaction, subscription: i64) -> Result<u64, BrokerError> {
    let count = txn
        .query_one_raw(stmt(
            "SELECT COUNT(*) AS n FROM messages WHERE subscription = ? AND state = 'unacked'",
            [subscription.into()],
        ))
        .await
        .map_err(db_err("counting unacknowledged deliveries"))?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()
        .map_err(db_err("counting unacknowledged deliveries"))?
        .unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

async fn queue_config(
    db: &impl ConnectionTrait,
    queue: &str,
) -> Result<Option<QueueConfig>, BrokerError> {
    let read = "reading a queue's settings";
    let Some(row) = db
        .query_one_raw(stmt(
            "SELECT dead_letter_queue, delivery_limit FROM queues WHERE name = ?",
            [queue.into()],
        ))
        .await
        .map_err(db_err(read))?
    else {
        return Ok(None);
    };
    Ok(Some(QueueConfig {
        dead_letter_queue: row.try_get("", "dead_letter_queue").map_err(db_err(read))?,
        delivery_limit: row.try_get("", "delivery_limit").map_err(db_err(read))?,
    }))
}

async fn load_bindings(txn: &DatabaseTransaction) -> Result<Vec<(String, String)>, BrokerError> {
    let read = "reading the bindings";
    txn.query_all_raw(stmt("SELECT queue, pattern FROM bindings", []))
        .await
        .map_err(db_err(read))?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("", "queue").map_err(db_err(read))?,
                row.try_get("", "pattern").map_err(db_err(read))?,
            ))
        })
        .collect()
}

/// Commits on success, rolls back on failure, and returns the result.
async fn finish<T>(
    txn: DatabaseTransaction,
    result: Result<T, BrokerError>,
) -> Result<T, BrokerError> {
    match result {
        Ok(value) => {
            txn.commit().await.map_err(db_err("committing"))?;
            Ok(value)
        }
        Err(error) => {
            rollback(txn).await;
            Err(error)
        }
    }
}

/// Rolls back after a failure; a failed rollback is only logged, the
/// original error is what the caller needs to see (and SQLite discards an
/// unfinished transaction anyway).
async fn rollback(txn: DatabaseTransaction) {
    if let Err(error) = txn.rollback().await {
        tracing::warn!(%error, "embedded broker: rollback failed");
    }
}

fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// A `usize` limit as SQLite's 64-bit integer.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn not_declared(queue: &str) -> BrokerError {
    BrokerError::NoSuchQueue(queue.to_owned())
}

/// Maps a store error to a broker error saying what we were doing. Failures
/// talking to SQLite count as connection failures (the caller retries);
/// data that does not read back as expected is a protocol error.
fn db_err(context: &'static str) -> impl FnOnce(DbErr) -> BrokerError {
    move |error| match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) | DbErr::Exec(_) | DbErr::Query(_) => {
            BrokerError::Connection(format!("embedded broker store, {context}: {error}"))
        }
        other => BrokerError::Protocol(format!("embedded broker store, {context}: {other}")),
    }
}

/// Encodes headers as `<key length>:<key><value length>:<value>` for each
/// pair in key order, lengths in bytes: unambiguous whatever the strings
/// contain, and readable enough in the sqlite3 shell (`serde_json` is not a
/// dependency of this crate).
fn encode_headers(headers: &Headers) -> String {
    let mut encoded = String::new();
    for (key, value) in headers {
        for field in [key, value] {
            encoded.push_str(&field.len().to_string());
            encoded.push(':');
            encoded.push_str(field);
        }
    }
    encoded
}

fn decode_headers(encoded: &str) -> Result<Headers, BrokerError> {
    let mut headers = Headers::new();
    let mut rest = encoded;
    while !rest.is_empty() {
        let (key, after_key) = split_field(rest)?;
        let (value, after_value) = split_field(after_key)?;
        headers.insert(key.to_owned(), value.to_owned());
        rest = after_value;
    }
    Ok(headers)
}

/// Splits one `<length>:<field>` off the front of `input`.
fn split_field(input: &str) -> Result<(&str, &str), BrokerError> {
    let corrupt =
        || BrokerError::Protocol("embedded broker store: corrupt message headers".to_owned());
    let (length, after) = input.split_once(':').ok_or_else(corrupt)?;
    let length: usize = length.parse().map_err(|_| corrupt())?;
    let field = after.get(..length).ok_or_else(corrupt)?;
    let rest = after.get(length..).ok_or_else(corrupt)?;
    Ok((field, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(400);
    const LONG: Duration = Duration::from_secs(5);

    async fn memory_broker() -> EmbeddedBroker {
        EmbeddedBroker::open("sqlite::memory:")
            .await
            .expect("open an in-memory store")
    }

    fn spec(name: &str, bindings: &[&str]) -> QueueSpec {
        QueueSpec {
            name: name.to_owned(),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            kind: QueueKind::Quorum,
            dead_letter_queue: format!("{name}.dlq"),
            delivery_limit: 0,
        }
    }

    fn event(routing_key: &str, message_id: &str) -> Outgoing {
        Outgoing {
            target: Target::Events,
            routing_key: routing_key.to_owned(),
            message_id: message_id.to_owned(),
            headers: Headers::from([("traceparent".to_owned(), "00-abc-def-01".to_owned())]),
            body: message_id.as_bytes().to_vec(),
        }
    }

    async fn count(broker: &EmbeddedBroker, queue: &str) -> u64 {
        broker.peek(queue, 0).await.expect("peek").1
    }

    async fn next(subscription: &mut EmbeddedSubscription) -> Delivery {
        tokio::time::timeout(LONG, subscription.next())
            .await
            .expect("a delivery in time")
            .expect("subscription alive")
            .expect("delivery")
    }

    async fn nothing_within(subscription: &mut EmbeddedSubscription, wait: Duration) -> bool {
        tokio::time::timeout(wait, subscription.next())
            .await
            .is_err()
    }

    fn assert_send<T: Send>(_: &T) {}

    /// The bus drives the broker from spawned tasks: its futures must be Send.
    #[allow(dead_code)]
    fn futures_are_send(
        broker: &EmbeddedBroker,
        subscription: &mut EmbeddedSubscription,
        acker: EmbeddedAcker,
    ) {
        let reroute = |_: &Peeked| None;
        assert_send(&broker.publish_confirmed(&[]));
        assert_send(&broker.declare_queue(&spec("q", &[])));
        assert_send(&broker.subscribe("q", 1));
        assert_send(&broker.peek("q", 1));
        assert_send(&broker.move_messages("q", 1, &reroute));
        assert_send(&subscription.next());
        assert_send(&acker.ack());
    }

    #[test]
    fn headers_round_trip_whatever_they_contain() {
        let headers = Headers::from([
            ("a".to_owned(), String::new()),
            ("12:34".to_owned(), "5:six:".to_owned()),
            ("ünïcødé".to_owned(), "日本語".to_owned()),
        ]);
        assert_eq!(
            decode_headers(&encode_headers(&headers)).expect("decode"),
            headers
        );
        assert_eq!(decode_headers("").expect("empty"), Headers::new());
        assert!(decode_headers("5:abc").is_err());
        assert!(decode_headers("x:abc").is_err());
        assert!(decode_headers("1:a").is_err(), "a key without a value");
        assert!(
            decode_headers("1:\u{e9}").is_err(),
            "a length that splits a character"
        );
    }

    #[test]
    fn recognises_in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://:memory:"));
        assert!(is_in_memory("sqlite://bus?mode=memory&cache=shared"));
        assert!(!is_in_memory("sqlite://data/bus.db?mode=rwc"));
        assert!(!is_in_memory("sqlite:///tmp/memory.db"));
    }

    #[tokio::test]
    async fn routes_by_topic_patterns() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("all", &["contributions.#"]))
            .await
            .expect("declare");
        broker
            .declare_queue(&spec("inputs", &["*.input.*.v1"]))
            .await
            .expect("declare");
        broker
            .declare_queue(&spec("projects", &["projects.#"]))
            .await
            .expect("declare");
        // Redeclaring is harmless and does not duplicate bindings.
        broker
            .declare_queue(&spec("all", &["contributions.#", "#.deleted.v1"]))
            .await
            .expect("redeclare");

        broker
            .publish_confirmed(&[
                event("contributions.input.created.v1", "m1"),
                event("projects.project.deleted.v1", "m2"),
            ])
            .await
            .expect("publish");

        let (all, total) = broker.peek("all", 10).await.expect("peek");
        assert_eq!(total, 2);
        assert_eq!(
            all.iter()
                .map(|p| p.message_id.as_str())
                .collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        assert_eq!(
            all[0].headers.get("traceparent").map(String::as_str),
            Some("00-abc-def-01")
        );
        assert_eq!(all[0].body, b"m1");
        assert_eq!(count(&broker, "inputs").await, 1);
        assert_eq!(count(&broker, "projects").await, 1);
        assert_eq!(count(&broker, "all.dlq").await, 0);

        let (head, total) = broker.peek("all", 1).await.expect("peek one");
        assert_eq!((head.len(), total), (1, 2));
    }

    #[tokio::test]
    async fn an_unroutable_message_fails_the_whole_batch() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["a.#"]))
            .await
            .expect("declare");

        let error = broker
            .publish_confirmed(&[event("a.b", "m1"), event("z.b", "m2")])
            .await
            .expect_err("unroutable");
        assert!(
            matches!(error, BrokerError::Unroutable { ref routing_key } if routing_key == "z.b"),
            "{error:?}"
        );

        let mut direct = event("a.b", "m3");
        direct.target = Target::Queue("missing".to_owned());
        let error = broker
            .publish_confirmed(&[direct])
            .await
            .expect_err("no such queue");
        assert!(matches!(error, BrokerError::Unroutable { .. }), "{error:?}");

        assert_eq!(count(&broker, "q").await, 0);

        let mut direct = event("anything", "m4");
        direct.target = Target::Queue("q.dlq".to_owned());
        broker
            .publish_confirmed(&[direct])
            .await
            .expect("publish to a queue");
        assert_eq!(count(&broker, "q.dlq").await, 1);
    }

    #[tokio::test]
    async fn respects_prefetch_and_acks() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["k"]))
            .await
            .expect("declare");
        broker
            .publish_confirmed(&[event("k", "m1"), event("k", "m2"), event("k", "m3")])
            .await
            .expect("publish");

        let mut subscription = broker.subscribe("q", 2).await.expect("subscribe");
        let first = next(&mut subscription).await;
        let second = next(&mut subscription).await;
        assert_eq!(
            (first.message_id.as_str(), second.message_id.as_str()),
            ("m1", "m2")
        );
        assert!(!first.redelivered);
        assert!(
            nothing_within(&mut subscription, SHORT).await,
            "prefetch of 2 exceeded"
        );

        // Acking frees a slot and wakes the waiting consumer.
        let waiting = tokio::spawn(async move {
            let third = next(&mut subscription).await;
            (third, subscription)
        });
        first.ack().await.expect("ack");
        let (third, _subscription) = tokio::time::timeout(LONG, waiting)
            .await
            .expect("woken")
            .expect("join");
        assert_eq!(third.message_id, "m3");

        second.ack().await.expect("ack");
        third.ack().await.expect("ack");
        assert_eq!(count(&broker, "q").await, 0);
    }

    #[tokio::test]
    async fn a_publish_wakes_a_waiting_consumer() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["k"]))
            .await
            .expect("declare");
        let mut subscription = broker.subscribe("q", 1).await.expect("subscribe");
        let waiting = tokio::spawn(async move { next(&mut subscription).await.message_id });
        tokio::time::sleep(Duration::from_millis(50)).await;
        broker
            .publish_confirmed(&[event("k", "m1")])
            .await
            .expect("publish");
        assert_eq!(
            tokio::time::timeout(LONG, waiting)
                .await
                .expect("woken")
                .expect("join"),
            "m1"
        );
    }

    #[tokio::test]
    async fn requeue_redelivers_at_the_head() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["k"]))
            .await
            .expect("declare");
        broker
            .publish_confirmed(&[event("k", "m1"), event("k", "m2")])
            .await
            .expect("publish");

        let mut subscription = broker.subscribe("q", 1).await.expect("subscribe");
        let first = next(&mut subscription).await;
        assert_eq!(first.message_id, "m1");
        first.requeue().await.expect("requeue");

        let again = next(&mut subscription).await;
        assert_eq!(again.message_id, "m1");
        assert!(again.redelivered);
        assert_eq!(
            again.headers.get("traceparent").map(String::as_str),
            Some("00-abc-def-01")
        );
        again.ack().await.expect("ack");

        let second = next(&mut subscription).await;
        assert_eq!(second.message_id, "m2");
        assert!(!second.redelivered);
        let (peeked, total) = broker.peek("q", 10).await.expect("peek");
        assert_eq!(total, 1, "an unacked message is still in its queue");
        assert_eq!(peeked[0].message_id, "m2");
    }

    #[tokio::test]
    async fn disconnect_all_redelivers_and_fails_old_acks() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["k"]))
            .await
            .expect("declare");
        broker
            .publish_confirmed(&[event("k", "m1"), event("k", "m2")])
            .await
            .expect("publish");

        let mut old = broker.subscribe("q", 5).await.expect("subscribe");
        let first = next(&mut old).await;
        let second = next(&mut old).await;
        let mut idle = broker.subscribe("q", 5).await.expect("subscribe");
        let idle_waiting = tokio::spawn(async move { idle.next().await.is_none() });
        tokio::time::sleep(Duration::from_millis(50)).await;

        broker.disconnect_all();

        assert!(
            tokio::time::timeout(LONG, old.next())
                .await
                .expect("ends")
                .is_none()
        );
        assert!(
            tokio::time::timeout(LONG, idle_waiting)
                .await
                .expect("ends")
                .expect("join")
        );
        assert!(matches!(first.ack().await, Err(BrokerError::Connection(_))));
        assert!(matches!(
            second.requeue().await,
            Err(BrokerError::Connection(_))
        ));

        let mut fresh = broker.subscribe("q", 5).await.expect("subscribe again");
        let again = next(&mut fresh).await;
        assert_eq!(again.message_id, "m1");
        assert!(again.redelivered);
        again.ack().await.expect("ack on the new subscription");
        let again = next(&mut fresh).await;
        assert_eq!(again.message_id, "m2");
        assert!(again.redelivered);
        again.ack().await.expect("ack");
        assert_eq!(count(&broker, "q").await, 0);
        assert!(*broker.connected().borrow());
    }

    #[tokio::test]
    async fn delivery_limit_dead_letters() {
        let broker = memory_broker().await;
        let mut queue = spec("q", &["k"]);
        queue.delivery_limit = 2;
        broker.declare_queue(&queue).await.expect("declare");
        broker
            .publish_confirmed(&[event("k", "m1"), event("k", "m2")])
            .await
            .expect("publish");

        let mut subscription = broker.subscribe("q", 1).await.expect("subscribe");
        for attempt in 0..2 {
            let delivery = next(&mut subscription).await;
            assert_eq!(delivery.message_id, "m1", "attempt {attempt}");
            delivery.requeue().await.expect("requeue");
        }
        // m1 was delivered twice: the next attempt dead-letters it and
        // delivers m2 instead.
        let delivery = next(&mut subscription).await;
        assert_eq!(delivery.message_id, "m2");
        delivery.ack().await.expect("ack");
        assert!(nothing_within(&mut subscription, SHORT).await);

        let (dead, total) = broker.peek("q.dlq", 10).await.expect("peek dlq");
        assert_eq!(total, 1);
        let headers = &dead[0].headers;
        assert_eq!(dead[0].message_id, "m1");
        let info = crate::dead_letter::read(headers).expect("dead-letter marks");
        assert_eq!(info.queue, "q");
        assert_eq!(info.error, DELIVERY_LIMIT_REACHED);
        assert_eq!(info.attempts, 2);
        assert_eq!(
            headers.get("traceparent").map(String::as_str),
            Some("00-abc-def-01")
        );

        // The dead-letter queue is consumable and its copy starts fresh.
        let mut dlq = broker.subscribe("q.dlq", 1).await.expect("subscribe dlq");
        let dead = next(&mut dlq).await;
        assert!(!dead.redelivered);
        dead.requeue().await.expect("requeue");
    }

    #[tokio::test]
    async fn move_messages_reroutes_ready_messages() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["k"]))
            .await
            .expect("declare");
        let to_dlq = |id: &str| Outgoing {
            target: Target::Queue("q.dlq".to_owned()),
            ..event("k", id)
        };
        broker
            .publish_confirmed(&[to_dlq("m1"), to_dlq("m2"), to_dlq("m3")])
            .await
            .expect("publish");

        let back = |peeked: &Peeked| {
            (peeked.message_id != "m2").then(|| Outgoing {
                target: Target::Queue("q".to_owned()),
                routing_key: peeked.routing_key.clone(),
                message_id: peeked.message_id.clone(),
                headers: peeked.headers.clone(),
                body: peeked.body.clone(),
            })
        };
        let moved = broker
            .move_messages("q.dlq", 10, &back)
            .await
            .expect("move");
        assert_eq!(moved, ["m1", "m3"]);
        let (left, total) = broker.peek("q.dlq", 10).await.expect("peek");
        assert_eq!((left[0].message_id.as_str(), total), ("m2", 1));
        assert_eq!(count(&broker, "q").await, 2);

        // A target that does not exist moves nothing.
        let nowhere = |peeked: &Peeked| {
            Some(Outgoing {
                target: Target::Queue("missing".to_owned()),
                routing_key: peeked.routing_key.clone(),
                message_id: peeked.message_id.clone(),
                headers: Headers::new(),
                body: Vec::new(),
            })
        };
        let error = broker
            .move_messages("q", 10, &nowhere)
            .await
            .expect_err("unroutable");
        assert!(matches!(error, BrokerError::Unroutable { .. }), "{error:?}");
        assert_eq!(count(&broker, "q").await, 2);

        // An unacked message is not moved.
        let mut subscription = broker.subscribe("q", 1).await.expect("subscribe");
        let held = next(&mut subscription).await;
        let moved = broker.move_messages("q", 10, &back).await.expect("move");
        assert_eq!(moved, ["m3"]);
        held.ack().await.expect("ack");
    }

    /// Competing consumers, some of which give up waiting half-way (a
    /// dropped `next()`), still see every message acked exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn competing_and_impatient_consumers_lose_nothing() {
        let broker = memory_broker().await;
        broker
            .declare_queue(&spec("q", &["k"]))
            .await
            .expect("declare");
        let batch: Vec<Outgoing> = (0..60).map(|i| event("k", &format!("m{i:02}"))).collect();
        broker.publish_confirmed(&batch).await.expect("publish");

        let mut consumers = Vec::new();
        for consumer in 0..4_u64 {
            let broker = broker.clone();
            consumers.push(tokio::spawn(async move {
                let mut subscription = broker.subscribe("q", 3).await.expect("subscribe");
                let mut acked = Vec::new();
                let mut attempt = consumer;
                loop {
                    attempt += 1;
                    // Every third wait is cut short, often mid-claim.
                    let patience = if attempt % 3 == 0 {
                        Duration::from_micros(200)
                    } else {
                        SHORT
                    };
                    match tokio::time::timeout(patience, subscription.next()).await {
                        Ok(Some(Ok(delivery))) => {
                            acked.push(delivery.message_id.clone());
                            delivery.ack().await.expect("ack");
                        }
                        Ok(other) => panic!("subscription ended: {other:?}"),
                        Err(_) if patience == SHORT => return acked,
                        Err(_) => {}
                    }
                }
            }));
        }
        let mut acked = Vec::new();
        for consumer in consumers {
            acked.extend(consumer.await.expect("join"));
        }
        acked.sort();
        let expected: Vec<String> = batch.iter().map(|m| m.message_id.clone()).collect();
        assert_eq!(acked, expected);
        assert_eq!(count(&broker, "q").await, 0);
    }

    #[tokio::test]
    async fn undeclared_queues_are_refused() {
        let broker = memory_broker().await;
        assert!(matches!(
            broker.subscribe("nope", 1).await,
            Err(BrokerError::NoSuchQueue(_))
        ));
        assert!(matches!(
            broker.peek("nope", 1).await,
            Err(BrokerError::NoSuchQueue(_))
        ));
        assert!(matches!(
            EmbeddedBroker::open("postgres://localhost/db").await,
            Err(BrokerError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn reopening_returns_unacked_messages() {
        let dir = std::env::temp_dir().join(format!(
            "inspraak-bus-embedded-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        // A directory that does not exist yet: opening creates it.
        let path = dir.join("store").join("bus.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        {
            let broker = EmbeddedBroker::open(&url).await.expect("open");
            broker
                .declare_queue(&spec("q", &["k"]))
                .await
                .expect("declare");
            broker
                .publish_confirmed(&[event("k", "m1"), event("k", "m2")])
                .await
                .expect("publish");
            let mut subscription = broker.subscribe("q", 1).await.expect("subscribe");
            let held = next(&mut subscription).await;
            assert_eq!(held.message_id, "m1");
            // The process "dies" holding m1: neither acked nor requeued.
            drop(held);
        }

        let broker = EmbeddedBroker::open(&url).await.expect("reopen");
        assert_eq!(count(&broker, "q").await, 2);
        let mut subscription = broker.subscribe("q", 2).await.expect("subscribe");
        let first = next(&mut subscription).await;
        assert_eq!(first.message_id, "m1");
        assert!(first.redelivered);
        let second = next(&mut subscription).await;
        assert_eq!(second.message_id, "m2");
        assert!(!second.redelivered);
        drop((first, second, subscription, broker));

        let _ = std::fs::remove_dir_all(&dir);
    }
}
