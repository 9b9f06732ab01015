//! What identity says about people that matters here: who is blocked, and
//! until when (kept from identity's events, so a blocked person cannot post
//! even while identity is down); and whose account was deleted, whose
//! contributions are then anonymised or erased.

use inspraak_bus::{EventHandler, HandlerError, decode_payload};
use inspraak_proto::events::v1::{Envelope, UserBlocked, UserDeleted, UserUnblocked};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait};

use crate::gdpr::{DeletionPolicy, forget};
use crate::store::entities::blocked_people;

/// The consumer's queue purpose.
pub const PURPOSE: &str = "people";

pub const BINDINGS: &[&str] = &[
    "identity.user.blocked.v1",
    "identity.user.unblocked.v1",
    "identity.user.deleted.v1",
];

pub struct PeopleProjection {
    /// What happens to a deleted person's contributions.
    pub deletion: DeletionPolicy,
    pub clock: inspraak_kit::Clock,
}

impl EventHandler for PeopleProjection {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        match event.r#type.as_str() {
            "identity.user.blocked.v1" => {
                let blocked: UserBlocked = decode_payload(event).map_err(HandlerError::Reject)?;
                let until = inspraak_kit::clock::from_timestamp(blocked.until.as_ref());
                blocked_people::Entity::insert(blocked_people::ActiveModel {
                    user_id: Set(blocked.user_id),
                    until: Set(until),
                })
                .on_conflict(
                    OnConflict::column(blocked_people::Column::UserId)
                        .update_column(blocked_people::Column::Until)
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
            }
            "identity.user.unblocked.v1" => {
                let unblocked: UserUnblocked =
                    decode_payload(event).map_err(HandlerError::Reject)?;
                blocked_people::Entity::delete_by_id(unblocked.user_id)
                    .exec(txn)
                    .await?;
            }
            "identity.user.deleted.v1" => {
                let deleted: UserDeleted = decode_payload(event).map_err(HandlerError::Reject)?;
                forget(txn, &deleted.user_id, self.deletion, self.clock.now())
                    .await
                    .map_err(|e| HandlerError::Retry(e.to_string()))?;
            }
            other => tracing::debug!(event_type = other, "not for the people projection"),
        }
        Ok(())
    }
}
