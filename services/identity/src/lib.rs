//! The identity service of Inspraak. It owns who someone is: people, credentials, tokens and their signing keys, platform roles, departments and the registration policy. Every other service verifies the access tokens it signs.
//!
//! It runs alone (`inspraak-identity`, or `inspraak serve identity`) or with the other
//! three in one process (`inspraak all`).

pub mod migration;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::identity::v1::identity_server::{Identity, IdentityServer};

/// The identity service, as the host runs it.
pub struct IdentityService;

/// The public API, `inspraak.identity.v1.Identity`.
struct IdentityApi;

impl Identity for IdentityApi {}

impl ServiceApp for IdentityService {
    const NAME: &'static str = "identity";
    const DEFAULT_PORT: u16 = 50051;
    type Migrator = migration::Migrator;

    fn routes(&self, _context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(IdentityServer::new(IdentityApi), server.settings());
        server.with_service(api)
    }
}
