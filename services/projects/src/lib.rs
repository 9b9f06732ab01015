//! The projects service of Inspraak. It owns how the platform and its
//! projects are organised: platform settings and the governance charter,
//! project proposals and their review, folders, projects, phases, teams,
//! public milestones and updates, and the cap on active projects. Its
//! time-driven events (phase started, ending soon, ended; milestone
//! approaching) are derived from its database, once each.
//!
//! It runs alone (`inspraak-projects`, or `inspraak serve projects`) or with
//! the other three in one process (`inspraak all`).

pub mod access;
pub mod collected;
pub mod content;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod phases;
pub mod projects;
pub mod proposals;
pub mod scheduler;
pub mod settings_store;
pub mod state;
pub mod store;
pub mod views;

use std::sync::Arc;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::Env;
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::projects::v1::projects_server::ProjectsServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use state::ProjectsSettings;
pub use store::Migrator;

/// The projects service, as the host runs it.
pub struct ProjectsService {
    settings: Arc<ProjectsSettings>,
    views: Arc<views::PartsCache>,
}

impl ProjectsService {
    pub fn new(settings: ProjectsSettings) -> Self {
        Self {
            views: Arc::new(views::PartsCache::new(
                settings.view_cache,
                settings.view_max_age,
            )),
            settings: Arc::new(settings),
        }
    }

    pub fn state(&self, context: &Context) -> state::State {
        state::State {
            db: context.db.clone(),
            outbox: context.bus.outbox(),
            clock: context.clock.clone(),
            settings: self.settings.clone(),
            views: self.views.clone(),
        }
    }
}

impl ServiceApp for ProjectsService {
    const NAME: &'static str = "projects";
    const DEFAULT_PORT: u16 = 50052;
    type Migrator = store::Migrator;

    fn configure(env: &mut Env) -> Self {
        Self::new(ProjectsSettings::from_env(env))
    }

    fn routes(&self, context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(
            ProjectsServer::new(grpc::ProjectsApi {
                state: self.state(context)
            }),
            server.settings()
        );
        server.with_service(api)
    }

    fn spawn_workers(
        &self,
        context: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let consumer = context.bus.consumer(
            context.db.clone(),
            "collected",
            &["contributions.input.created.v1"],
            collected::InputCollected,
        );
        vec![
            tokio::spawn(scheduler::run(self.state(context), shutdown.clone())),
            tokio::spawn(consumer.run(shutdown.clone())),
        ]
    }
}
