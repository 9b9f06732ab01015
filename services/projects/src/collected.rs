//! What residents contributed, as contributions reports it: once a phase has
//! input, its method is fixed and its project cannot go back to draft.

use inspraak_bus::{EventHandler, HandlerError, decode_payload};
use inspraak_proto::events::v1::{Envelope, InputCreated};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::store::entities::{phases, projects};

pub struct InputCollected;

impl EventHandler for InputCollected {
    async fn handle(
        &self,
        txn: &DatabaseTransaction,
        event: &Envelope,
    ) -> Result<(), HandlerError> {
        let input: InputCreated = decode_payload(event).map_err(HandlerError::Reject)?;
        let project = uuid::Uuid::parse_str(&input.project_id)
            .map_err(|_| HandlerError::Reject(format!("project id {:?}", input.project_id)))?;
        projects::Entity::update_many()
            .col_expr(projects::Column::HasInput, Expr::value(true))
            .filter(projects::Column::Id.eq(project))
            .exec(txn)
            .await?;
        if let Ok(phase) = uuid::Uuid::parse_str(&input.phase_id) {
            phases::Entity::update_many()
                .col_expr(phases::Column::HasInput, Expr::value(true))
                .filter(phases::Column::Id.eq(phase))
                .filter(phases::Column::ProjectId.eq(project))
                .exec(txn)
                .await?;
        }
        Ok(())
    }
}
