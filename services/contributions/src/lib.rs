//! The contributions service of Inspraak. It owns what residents contribute and how staff answer: inputs, comments, reactions, votes, follows, official feedback and statuses, moderation and per-project statistics, with a projection of the project facts it needs.
//!
//! It runs alone (`inspraak-contributions`, or `inspraak serve contributions`) or with the other
//! three in one process (`inspraak all`).

pub mod migration;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::contributions::v1::contributions_server::{Contributions, ContributionsServer};

/// The contributions service, as the host runs it.
pub struct ContributionsService;

/// The public API, `inspraak.contributions.v1.Contributions`.
struct ContributionsApi;

impl Contributions for ContributionsApi {}

impl ServiceApp for ContributionsService {
    const NAME: &'static str = "contributions";
    const DEFAULT_PORT: u16 = 50053;
    type Migrator = migration::Migrator;

    fn configure(_env: &mut inspraak_kit::Env) -> Self {
        Self
    }

    fn routes(&self, _context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(
            ContributionsServer::new(ContributionsApi),
            server.settings()
        );
        server.with_service(api)
    }
}
