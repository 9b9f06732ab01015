//! The projects service of Inspraak. It owns how the platform and its projects are organised: platform settings and the governance charter, project proposals and their review, projects, folders, phases, teams and public deadlines.
//!
//! It runs alone (`inspraak-projects`, or `inspraak serve projects`) or with the other
//! three in one process (`inspraak all`).

pub mod migration;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::projects::v1::projects_server::{Projects, ProjectsServer};

/// The projects service, as the host runs it.
pub struct ProjectsService;

/// The public API, `inspraak.projects.v1.Projects`.
struct ProjectsApi;

impl Projects for ProjectsApi {}

impl ServiceApp for ProjectsService {
    const NAME: &'static str = "projects";
    const DEFAULT_PORT: u16 = 50052;
    type Migrator = migration::Migrator;

    fn configure(_env: &mut inspraak_kit::Env) -> Self {
        Self
    }

    fn routes(&self, _context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(ProjectsServer::new(ProjectsApi), server.settings());
        server.with_service(api)
    }
}
