//! A service to serve in runtime tests: `Sleep` takes as long as asked.

use std::net::SocketAddr;
use std::time::Duration;

use inspraak_kit::auth::AuthLayer;
use inspraak_kit::grpc::{GrpcServer, Readiness, ServeError, ServerSettings};
use inspraak_proto::testing::v1::probe_server::{Probe, ProbeServer};
use inspraak_proto::testing::v1::{SleepRequest, SleepResponse};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Sleeper;

#[tonic::async_trait]
impl Probe for Sleeper {
    async fn sleep(
        &self,
        request: tonic::Request<SleepRequest>,
    ) -> Result<tonic::Response<SleepResponse>, tonic::Status> {
        let millis = request.into_inner().millis;
        tokio::time::sleep(Duration::from_millis(u64::from(millis))).await;
        Ok(tonic::Response::new(SleepResponse {
            slept_millis: millis,
        }))
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub readiness: Readiness,
    pub shutdown: CancellationToken,
    pub serving: JoinHandle<Result<(), ServeError>>,
}

/// Starts the probe service on port 0 with the runtime's server.
pub async fn start(name: &str) -> Running {
    let server =
        GrpcServer::new(name, ServerSettings::for_tests()).with_service(ProbeServer::new(Sleeper));
    let readiness = server.readiness();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.serve(listener, AuthLayer::refuse_all(), shutdown.clone()));
    Running {
        addr,
        readiness,
        shutdown,
        serving,
    }
}

/// A connected channel to `addr`.
pub async fn channel(addr: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}
