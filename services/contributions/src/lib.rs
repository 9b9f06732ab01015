//! The contributions service of Inspraak. It owns what residents contribute and how staff answer: inputs, comments, reactions, votes, follows, official feedback and statuses, moderation and per-project statistics, with a projection of the project facts it needs.
//!
//! It runs alone (`inspraak-contributions`, or `inspraak serve contributions`) or with the other
//! three in one process (`inspraak all`).

pub mod access;
pub mod answers;
pub mod comments;
pub mod counters;
pub mod deadlines;
pub mod error;
pub mod follows;
pub mod gdpr;
pub mod grpc;
pub mod history;
pub mod inputs;
pub mod listing;
pub mod metrics;
pub mod moderation;
pub mod on_input;
pub mod people;
pub mod posting_limits;
pub mod projection;
pub mod reactions;
pub mod state;
pub mod statistics;
pub mod status;
pub mod store;
pub mod voting;
pub mod wire;

use std::sync::Arc;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::Env;
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::contributions::v1::answers_server::AnswersServer;
use inspraak_proto::contributions::v1::contributions_server::ContributionsServer;
use inspraak_proto::contributions::v1::discussion_server::DiscussionServer;
use inspraak_proto::contributions::v1::moderation_server::ModerationServer;
use inspraak_proto::contributions::v1::voting_server::VotingServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use state::ContributionsSettings;
pub use store::Migrator;
// Kept at the crate root too: the platform's migration tests name it there.
pub use store::migration;

/// The contributions service, as the host runs it.
pub struct ContributionsService {
    settings: Arc<ContributionsSettings>,
}

impl ContributionsService {
    pub fn new(settings: ContributionsSettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }

    pub fn state(&self, context: &Context) -> state::State {
        state::State {
            db: context.db.clone(),
            outbox: context.bus.outbox(),
            clock: context.clock.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl ServiceApp for ContributionsService {
    const NAME: &'static str = "contributions";
    const DEFAULT_PORT: u16 = 50053;
    type Migrator = store::Migrator;

    fn configure(env: &mut Env) -> Self {
        Self::new(ContributionsSettings::from_env(env))
    }

    fn routes(&self, context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(
            ContributionsServer::new(grpc::ContributionsApi {
                state: self.state(context)
            }),
            server.settings()
        );
        let answers = inspraak_kit::limited!(
            AnswersServer::new(grpc::AnswersApi {
                state: self.state(context)
            }),
            server.settings()
        );
        let discussion = inspraak_kit::limited!(
            DiscussionServer::new(grpc::DiscussionApi {
                state: self.state(context)
            }),
            server.settings()
        );
        let moderation = inspraak_kit::limited!(
            ModerationServer::new(grpc::ModerationApi {
                state: self.state(context)
            }),
            server.settings()
        );
        let voting = inspraak_kit::limited!(
            VotingServer::new(grpc::VotingApi {
                state: self.state(context)
            }),
            server.settings()
        );
        server
            .with_service(api)
            .with_service(answers)
            .with_service(discussion)
            .with_service(moderation)
            .with_service(voting)
    }

    fn spawn_workers(
        &self,
        context: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let consumer = context.bus.consumer(
            context.db.clone(),
            projection::PURPOSE,
            projection::BINDINGS,
            projection::ProjectProjection,
        );
        let people = context.bus.consumer(
            context.db.clone(),
            people::PURPOSE,
            people::BINDINGS,
            people::PeopleProjection {
                deletion: self.settings.account_deletion,
                clock: context.clock.clone(),
            },
        );
        let deadlines = deadlines::run(
            self.state(context),
            self.settings.deadline_scan_interval,
            shutdown.clone(),
        );
        let reactions = reactions::run_coalescer(
            self.state(context),
            self.settings.reaction_event_window,
            shutdown.clone(),
        );
        vec![
            tokio::spawn(consumer.run(shutdown.clone())),
            tokio::spawn(people.run(shutdown.clone())),
            tokio::spawn(deadlines),
            tokio::spawn(reactions),
        ]
    }
}
