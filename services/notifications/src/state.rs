//! What every notifications operation works with.

use std::sync::Arc;

use inspraak_kit::Clock;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, broadcast};

use crate::settings::NotificationsSettings;

/// Wake-ups between the event handler and the workers of one process: the
/// sender when mail is due, open inbox streams when a person got something.
/// Workers also poll, so a wake-up lost (or sent by another replica) only
/// delays.
#[derive(Clone)]
pub struct Signals {
    pub mail: Arc<Notify>,
    pub inbox: broadcast::Sender<String>,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            mail: Arc::new(Notify::new()),
            inbox: broadcast::channel(1024).0,
        }
    }
}

#[derive(Clone)]
pub struct State {
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub settings: Arc<NotificationsSettings>,
    pub signals: Signals,
}
