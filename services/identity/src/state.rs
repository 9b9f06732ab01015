//! What every identity operation works with.

use std::sync::Arc;

use inspraak_bus::Outbox;
use inspraak_host::AuthSettings;
use inspraak_kit::Clock;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::Result;
use crate::keys::SigningKeys;
use crate::passwords::Passwords;
use crate::settings::IdentitySettings;
use crate::throttle::Throttle;

#[derive(Clone)]
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub clock: Clock,
    pub settings: Arc<IdentitySettings>,
    pub auth: AuthSettings,
    pub passwords: Passwords,
    pub keys: SigningKeys,
    pub throttle: Throttle,
}

impl State {
    /// Writes an identity event into the outbox within `txn`.
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
