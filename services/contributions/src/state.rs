//! What every contributions operation works with.

use std::sync::Arc;

use inspraak_bus::Outbox;
use inspraak_kit::Clock;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::Result;

/// Contributions' own settings.
#[derive(Debug, Clone)]
pub struct ContributionsSettings {
    /// `MAX_PAGE_SIZE`: the most inputs a list page holds.
    pub max_page_size: u64,
}

impl ContributionsSettings {
    pub fn from_env(env: &mut inspraak_kit::Env) -> Self {
        Self {
            max_page_size: env.bounded_or("MAX_PAGE_SIZE", 100u64, 1, 1000),
        }
    }

    pub fn defaults() -> Self {
        Self::from_env(&mut inspraak_kit::Env::from_pairs(std::iter::empty::<(
            String,
            String,
        )>()))
    }
}

#[derive(Clone)]
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub clock: Clock,
    pub settings: Arc<ContributionsSettings>,
}

impl State {
    /// Writes a contributions event into the outbox within `txn`.
    pub async fn publish<C: ConnectionTrait, M: prost::Name>(
        &self,
        txn: &C,
        event_type: &str,
        aggregate_type: &str,
        aggregate_id: impl ToString,
        version: i64,
        payload: &M,
    ) -> Result<()> {
        self.outbox
            .record(
                txn,
                event_type,
                aggregate_type,
                &aggregate_id.to_string(),
                u64::try_from(version).unwrap_or(0),
                self.clock.now(),
                payload,
            )
            .await?;
        Ok(())
    }
}
