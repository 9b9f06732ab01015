//! Running one service.
//!
//! Every service starts the same way, so the way lives here once: the gRPC
//! server answers liveness at once; the database is reached and migrated
//! (under an advisory lock on PostgreSQL) with retries; the outbox relay and
//! the service's consumers start once the schema is in place; readiness
//! follows migrations, database and broker; SIGTERM turns readiness off,
//! drains in-flight calls and event handling within a bounded time.

mod config;
mod entry;
#[cfg(feature = "test-support")]
pub mod testing;

use std::net::SocketAddr;
use std::time::Duration;

use inspraak_bus::{Broker, Bus};
use inspraak_kit::auth::{AuthLayer, KeySource, PublicKeys, TokenVerifier};
use inspraak_kit::grpc::{Condition, GrpcServer, Readiness, ServeError};
use inspraak_kit::{Clock, Env};
use inspraak_proto::bus::v1::dead_letters_server::DeadLettersServer;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{AuthSettings, Defaults, ServiceConfig};
pub use entry::run_from_env;

/// What a service hands its parts: its database, its bus, the clock, and
/// what access tokens must say.
#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub bus: Bus,
    pub clock: Clock,
    pub auth: AuthSettings,
}

/// What [`ServiceApp::prepare`] does: an error says why the service is not
/// ready yet.
pub type Preparation =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// One of the platform's services, as the host runs it.
pub trait ServiceApp: Send + Sync + 'static {
    /// Its short name (`identity`), used for readiness, queues and logs.
    const NAME: &'static str;
    /// The port it listens on by default (overridden by `GRPC_ADDR`).
    const DEFAULT_PORT: u16;
    /// Its database schema.
    type Migrator: MigratorTrait;

    /// Reads the service's own settings (the environment is already scoped
    /// to the service's prefix), reporting every bad value.
    fn configure(env: &mut Env) -> Self
    where
        Self: Sized;

    /// Where the keys that verify access tokens come from, when the service
    /// knows better than `IDENTITY_URL` (identity verifies with its own).
    fn key_source(&self, context: &Context) -> Option<KeySource> {
        let _ = context;
        None
    }

    /// Work that must be done after the migrations and before the service
    /// reports ready (identity opens and reseals its signing keys). Until it
    /// succeeds the service stays unready and it is retried with back-off,
    /// so a rollout with a bad setting stalls while the old pods serve.
    fn prepare(&self, context: &Context) -> Preparation {
        let _ = context;
        Box::pin(async { Ok(()) })
    }

    /// Adds the service's own gRPC services to `server`.
    fn routes(&self, context: &Context, server: GrpcServer) -> GrpcServer;

    /// Starts the service's consumers and background jobs once the schema is
    /// in place; each stops when `shutdown` is cancelled.
    fn spawn_workers(
        &self,
        context: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let _ = (context, shutdown);
        Vec::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot open the database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("cannot open the bus: {0}")]
    Bus(#[from] inspraak_bus::BrokerError),
    #[error("invalid identity endpoint for token verification: {0}")]
    Identity(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the gRPC server task crashed: {0}")]
    Crashed(String),
}

/// A service started by [`start`].
pub struct Running {
    pub addr: SocketAddr,
    /// The admin HTTP port, when enabled.
    pub admin_addr: Option<SocketAddr>,
    pub readiness: Readiness,
    pub context: Context,
    /// Completes when the service has stopped.
    pub stopped: JoinHandle<Result<(), HostError>>,
}

/// Binds the configured address and starts the service; it runs until
/// `shutdown` is cancelled.
pub async fn start<A: ServiceApp>(
    app: A,
    config: ServiceConfig,
    clock: Clock,
    shutdown: CancellationToken,
) -> Result<Running, HostError> {
    let listener = TcpListener::bind(config.grpc.addr)
        .await
        .map_err(|source| HostError::Bind {
            addr: config.grpc.addr,
            source,
        })?;
    start_on(app, config, listener, clock, shutdown, None).await
}

/// Like [`start`], on a listener the caller bound (tests bind port 0), and
/// optionally on a broker shared with other services of the same process
/// (the embedded platform runs all four on one embedded broker).
pub async fn start_on<A: ServiceApp>(
    app: A,
    config: ServiceConfig,
    listener: TcpListener,
    clock: Clock,
    shutdown: CancellationToken,
    shared_broker: Option<Broker>,
) -> Result<Running, HostError> {
    let addr = listener.local_addr().map_err(|source| HostError::Bind {
        addr: config.grpc.addr,
        source,
    })?;
    let db = inspraak_kit::db::connect_lazy(&config.database).await?;
    let bus = match shared_broker {
        Some(broker) => Bus::with_broker(A::NAME, broker, config.bus.clone()),
        None => Bus::open(A::NAME, config.bus.clone()).await?,
    };
    let context = Context {
        db,
        bus,
        clock: clock.clone(),
        auth: config.auth.clone(),
    };

    let source = match (app.key_source(&context), &config.auth.identity_url) {
        (Some(source), _) => Some(source),
        (None, Some(url)) => {
            Some(KeySource::identity(url).map_err(|e| HostError::Identity(format!("{url}: {e}")))?)
        }
        (None, None) => None,
    };
    let auth = match source {
        Some(source) => AuthLayer::new(TokenVerifier::new(
            config.auth.verifier.clone(),
            PublicKeys::new(source, Duration::from_secs(1)),
            clock,
        )),
        None => AuthLayer::refuse_all(),
    };

    let dead_letters = inspraak_kit::limited!(
        DeadLettersServer::new(context.bus.dead_letters_service()),
        config.grpc
    );
    let server = app
        .routes(&context, GrpcServer::new(A::NAME, config.grpc.clone()))
        .with_service(dead_letters);
    let readiness = server.readiness();
    let drain = config.grpc.drain_timeout;
    let admin_addr = match config.grpc.admin_addr {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| HostError::Bind { addr, source })?;
            let bound = listener.local_addr().ok();
            let (readiness, shutdown) = (readiness.clone(), shutdown.clone());
            tokio::spawn(async move {
                if let Err(error) = inspraak_kit::admin::serve(listener, readiness, shutdown).await
                {
                    tracing::error!(%error, "the admin HTTP server failed");
                }
            });
            bound
        }
    };

    // Workers get their own token, cancelled only once the gRPC server has
    // drained: a call in flight may still be writing to the outbox.
    let workers_shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.serve(listener, auth, shutdown.clone()));
    let watcher = context
        .bus
        .watch_connection(readiness.clone(), workers_shutdown.clone());
    let startup = tokio::spawn(prepare_and_work(
        app,
        context.clone(),
        readiness.clone(),
        workers_shutdown.clone(),
    ));

    let stopped = tokio::spawn(async move {
        let served = serving.await;
        workers_shutdown.cancel();
        let workers = async {
            if let Ok(handles) = startup.await {
                for handle in handles {
                    let _ = handle.await;
                }
            }
            let _ = watcher.await;
        };
        if tokio::time::timeout(drain, workers).await.is_err() {
            tracing::warn!(timeout = ?drain, "event handling did not finish within the drain timeout");
        }
        tracing::info!(service = A::NAME, "stopped");
        match served {
            Ok(result) => result.map_err(HostError::from),
            Err(join) => Err(HostError::Crashed(join.to_string())),
        }
    });

    Ok(Running {
        addr,
        admin_addr,
        readiness,
        context,
        stopped,
    })
}

/// Migrates (retrying while the database is away), then starts the relay,
/// the workers and the database watch. Returns their handles.
async fn prepare_and_work<A: ServiceApp>(
    app: A,
    context: Context,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let migrated = until_done(&shutdown, || async {
        inspraak_kit::db::migrate::<A::Migrator>(&context.db)
            .await
            .map_err(|error| {
                tracing::warn!(service = A::NAME, %error, "database not ready for migrations");
            })
    })
    .await;
    if !migrated {
        return Vec::new();
    }
    readiness.set(Condition::Database, true).await;
    readiness.set(Condition::Migrated, true).await;
    tracing::info!(service = A::NAME, "migrations applied");
    let prepared = until_done(&shutdown, || async {
        app.prepare(&context).await.map_err(|error| {
            tracing::error!(service = A::NAME, %error, "not ready: preparing failed");
        })
    })
    .await;
    if !prepared {
        return Vec::new();
    }
    readiness.set(Condition::Prepared, true).await;

    let mut handles = vec![
        tokio::spawn(context.bus.relay(context.db.clone()).run(shutdown.clone())),
        tokio::spawn(watch_database(
            context.db.clone(),
            readiness,
            shutdown.clone(),
        )),
    ];
    handles.extend(app.spawn_workers(&context, &shutdown));
    handles
}

/// Runs `attempt` until it succeeds, backing off from 0.2 s to 10 s between
/// tries (each failure is logged by `attempt`); false if cancelled first.
async fn until_done<F, Fut>(shutdown: &CancellationToken, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ()>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        if attempt().await.is_ok() {
            return true;
        }
        tracing::debug!(retry_in = ?backoff, "retrying");
        if sleep_or_cancelled(backoff, shutdown).await {
            return false;
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Keeps readiness's database condition true to whether the database answers.
async fn watch_database(db: DatabaseConnection, readiness: Readiness, shutdown: CancellationToken) {
    loop {
        if sleep_or_cancelled(Duration::from_secs(5), &shutdown).await {
            return;
        }
        let up = inspraak_kit::db::ping(&db).await;
        readiness.set(Condition::Database, up).await;
    }
}

/// Sleeps; true if cancelled first.
async fn sleep_or_cancelled(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        () = shutdown.cancelled() => true,
    }
}
