//! The notifications service of Inspraak. It owns how people are told: in-app inboxes with a live stream, notification preferences, e-mail deliveries and digests, from projections built from the other services' events — never a call to another service per event.
//!
//! It runs alone (`inspraak-notifications`, or `inspraak serve notifications`) or with the other
//! three in one process (`inspraak all`).

pub mod announcements;
pub mod category;
pub mod deliveries;
pub mod error;
pub mod escalation;
pub mod fanout;
pub mod grpc;
pub mod handler;
pub mod http;
pub mod inbox;
pub mod kind;
pub mod mail;
pub mod metrics;
pub mod preferences;
pub mod projections;
pub mod report;
pub mod routing;
pub mod settings;
pub mod state;
pub mod store;

use std::sync::Arc;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::notifications::v1::notifications_server::NotificationsServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use settings::NotificationsSettings;
pub use store::Migrator;
// Kept at the crate root too: the platform's migration tests name it there.
pub use store::migration;

/// The notifications service, as the host runs it.
pub struct NotificationsService {
    settings: Arc<NotificationsSettings>,
    /// One set per service instance: the handler wakes its own workers.
    signals: state::Signals,
}

impl NotificationsService {
    pub fn new(settings: NotificationsSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            signals: state::Signals::default(),
        }
    }

    pub fn state(&self, context: &Context) -> state::State {
        state::State {
            db: context.db.clone(),
            clock: context.clock.clone(),
            settings: self.settings.clone(),
            signals: self.signals.clone(),
        }
    }
}

impl ServiceApp for NotificationsService {
    const NAME: &'static str = "notifications";
    const DEFAULT_PORT: u16 = 50054;
    type Migrator = store::Migrator;

    fn configure(env: &mut inspraak_kit::Env) -> Self {
        Self::new(NotificationsSettings::from_env(env))
    }

    fn routes(&self, context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(
            NotificationsServer::new(grpc::NotificationsApi {
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
        let state = self.state(context);
        let consumer = context.bus.consumer(
            context.db.clone(),
            handler::PURPOSE,
            handler::BINDINGS,
            handler::Notifier {
                state: state.clone(),
            },
        );
        let mut workers = vec![
            tokio::spawn(consumer.run(shutdown.clone())),
            tokio::spawn(escalation::run(
                state.clone(),
                self.settings.escalation_scan_interval,
                shutdown.clone(),
            )),
            tokio::spawn(report::run(
                state.clone(),
                self.settings.report_scan_interval,
                shutdown.clone(),
            )),
        ];
        match mail::transport::Transport::build(&self.settings.transport) {
            Ok(transport) => workers.push(tokio::spawn(mail::sender::run(
                state.clone(),
                transport,
                shutdown.clone(),
            ))),
            Err(error) => tracing::error!(%error, "no mail will be sent"),
        }
        if let Some(addr) = self.settings.unsubscribe_addr {
            workers.push(tokio::spawn(http::serve(state, addr, shutdown.clone())));
        }
        workers
    }
}
