//! The notifications service of Inspraak. It owns how people are told: in-app inboxes, notification preferences, e-mail deliveries, digests, reminders and the decision-makers' report, from projections built from the other services' events.
//!
//! It runs alone (`inspraak-notifications`, or `inspraak serve notifications`) or with the other
//! three in one process (`inspraak all`).

pub mod migration;

use inspraak_host::{Context, ServiceApp};
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::notifications::v1::notifications_server::{Notifications, NotificationsServer};

/// The notifications service, as the host runs it.
pub struct NotificationsService;

/// The public API, `inspraak.notifications.v1.Notifications`.
struct NotificationsApi;

impl Notifications for NotificationsApi {}

impl ServiceApp for NotificationsService {
    const NAME: &'static str = "notifications";
    const DEFAULT_PORT: u16 = 50054;
    type Migrator = migration::Migrator;

    fn configure(_env: &mut inspraak_kit::Env) -> Self {
        Self
    }

    fn routes(&self, _context: &Context, server: GrpcServer) -> GrpcServer {
        let api = inspraak_kit::limited!(
            NotificationsServer::new(NotificationsApi),
            server.settings()
        );
        server.with_service(api)
    }
}
