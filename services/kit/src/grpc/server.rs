//! The gRPC server every service runs: its own services plus health checking
//! and reflection, behind the telemetry and authentication layers, with
//! message-size and concurrency limits, a default deadline and a bounded
//! graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::Server;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower_service::Service;

use super::readiness::{Condition, Readiness};
use super::telemetry_layer::RpcTelemetryLayer;
use crate::auth::AuthLayer;
use crate::config::Env;

/// Limits and timings of a gRPC server, from the environment.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `GRPC_ADDR`
    pub addr: SocketAddr,
    /// `GRPC_MAX_MESSAGE_BYTES`, both directions.
    pub max_message_bytes: usize,
    /// `GRPC_CONCURRENCY_PER_CONNECTION`: calls in progress on one HTTP/2
    /// connection; more wait.
    pub concurrency_per_connection: usize,
    /// `GRPC_DEFAULT_DEADLINE`: applies when the caller sets none (a shorter
    /// `grpc-timeout` from the caller wins).
    pub default_deadline: Duration,
    /// `SHUTDOWN_DRAIN_TIMEOUT`: how long in-flight calls and event handlers
    /// may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// `ADMIN_ADDR`: the admin HTTP port (`/healthz`, `/readyz`, `/metrics`),
    /// or `off`.
    pub admin_addr: Option<SocketAddr>,
}

/// An address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

impl std::str::FromStr for OptionalAddr {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" {
            Ok(Self(None))
        } else {
            s.parse().map(|a| Self(Some(a)))
        }
    }
}

impl ServerSettings {
    pub fn from_env(env: &mut Env, default_port: u16) -> Self {
        let default_addr = SocketAddr::from(([0, 0, 0, 0], default_port));
        Self {
            addr: env.or(
                "GRPC_ADDR",
                default_addr,
                "a socket address such as 0.0.0.0:50051",
            ),
            max_message_bytes: env.bounded_or("GRPC_MAX_MESSAGE_BYTES", 4 << 20, 1024, 64 << 20),
            concurrency_per_connection: env.bounded_or(
                "GRPC_CONCURRENCY_PER_CONNECTION",
                256,
                1,
                10_000,
            ),
            default_deadline: env.duration_or("GRPC_DEFAULT_DEADLINE", Duration::from_secs(30)),
            drain_timeout: env.duration_or("SHUTDOWN_DRAIN_TIMEOUT", Duration::from_secs(20)),
            // The admin port follows the gRPC one: 50051 → 9091, 50052 → 9092…
            admin_addr: env
                .or(
                    "ADMIN_ADDR",
                    OptionalAddr(Some(SocketAddr::from((
                        [0, 0, 0, 0],
                        9090 + default_port.saturating_sub(50050),
                    )))),
                    "a socket address such as 0.0.0.0:9091, or off",
                )
                .0,
        }
    }

    /// Settings for tests: port 0, short drain.
    pub fn for_tests() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_message_bytes: 4 << 20,
            concurrency_per_connection: 256,
            default_deadline: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            admin_addr: None,
        }
    }
}

/// Applies the server's message-size limits to a generated tonic server, e.g.
/// `limited!(IdentityServer::new(svc), settings)`.
#[macro_export]
macro_rules! limited {
    ($server:expr, $settings:expr) => {
        $server
            .max_decoding_message_size($settings.max_message_bytes)
            .max_encoding_message_size($settings.max_message_bytes)
    };
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A service's gRPC server under construction.
pub struct GrpcServer {
    settings: ServerSettings,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    reporter: HealthReporter,
    readiness: Readiness,
}

impl GrpcServer {
    /// `name` is what readiness is reported under (e.g. `identity`).
    pub fn new(name: &str, settings: ServerSettings) -> Self {
        let reporter = HealthReporter::new();
        let readiness = Readiness::new(name, reporter.clone());
        Self {
            settings,
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            reporter,
            readiness,
        }
    }

    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The handle through which database, migrations, broker and shutdown
    /// report whether the service may take traffic.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Adds one of the service's own gRPC services (apply [`limited!`] first).
    pub fn with_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves until `shutdown` is cancelled, then turns readiness to
    /// NOT_SERVING, stops accepting calls and lets in-flight ones finish for
    /// at most the drain timeout.
    pub async fn serve(
        self,
        listener: TcpListener,
        auth: AuthLayer,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let settings = self.settings;
        let mut reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(inspraak_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(inspraak_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for name in &self.service_names {
            reflection_v1 = reflection_v1.with_service_name(*name);
            reflection_v1alpha = reflection_v1alpha.with_service_name(*name);
        }
        let reflection_v1 = limited!(reflection_v1.build_v1()?, settings);
        let reflection_v1alpha = limited!(reflection_v1alpha.build_v1alpha()?, settings);
        let health = limited!(
            HealthServer::new(HealthService::from_health_reporter(self.reporter.clone())),
            settings
        );

        // Readiness is answered (NOT_SERVING) from the first call on, not
        // NOT_FOUND until some condition changes.
        self.readiness.publish().await;
        let readiness = self.readiness.clone();
        let stop_accepting = shutdown.clone();
        let signal = async move {
            stop_accepting.cancelled().await;
            // Readiness goes first, so that balancers stop routing here while
            // the calls already in progress finish.
            readiness.set(Condition::NotDraining, false).await;
            tracing::info!("shutting down: draining in-flight calls");
        };

        let local = listener.local_addr().ok();
        tracing::info!(addr = ?local, services = ?self.service_names, "gRPC server listening");
        let server = Server::builder()
            .timeout(settings.default_deadline)
            .concurrency_limit_per_connection(settings.concurrency_per_connection)
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .layer(RpcTelemetryLayer::new(Some(settings.default_deadline)))
            .layer(auth)
            .layer(super::malformed_requests_are_invalid())
            .add_routes(self.routes.routes())
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .serve_with_incoming_shutdown(no_delay(listener), signal);

        let drain_deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(settings.drain_timeout).await;
        };
        tokio::select! {
            result = server => result?,
            () = drain_deadline => {
                tracing::warn!(timeout = ?settings.drain_timeout, "drain timeout passed; closing the calls still in progress");
            }
        }
        Ok(())
    }
}

/// The accepted connections with Nagle's algorithm off. The builder's
/// `tcp_nodelay` only applies to listeners tonic binds itself; on ours each
/// small response would otherwise wait for the client's delayed ACK (about
/// 40 ms on Linux). Public for servers built without [`GrpcServer`], such
/// as the load generator's bare baseline, so both answer alike.
pub fn no_delay(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}
