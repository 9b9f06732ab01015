//! The burst of reactions the coalescer announces is kept on the input's
//! row (`reactions_since`: when its reactions first changed since they were
//! last announced) instead of a row of its own in `reaction_bursts`. Every
//! reaction updates the input's row for its counts anyway; marking the
//! burst in that same update spares each reaction a statement, and the
//! coalescer claims a burst and reads its counts in one. Bursts waiting to
//! be announced move onto their inputs.
//!
//! `reaction_bursts` itself stays for now: during a rolling upgrade the
//! replicas of the previous release (the chart migrates before it rolls)
//! still record their reactions' bursts there and announce them with their
//! own coalescers. A later release moves what is left and drops it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

pub struct MoveBurstsOntoInputs;

impl MigrationName for MoveBurstsOntoInputs {
    fn name(&self) -> &str {
        "m0010_reactions_since"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MoveBurstsOntoInputs {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("inputs"))
                    .add_column(timestamp_with_time_zone_null(Alias::new("reactions_since")))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Partial: only the inputs with a burst pending are in it, so the
        // coalescer's scan stays small however many inputs there are.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS inputs_reactions_since ON inputs (reactions_since) \
             WHERE reactions_since IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE inputs SET reactions_since = \
               (SELECT first_at FROM reaction_bursts WHERE reaction_bursts.input_id = inputs.id) \
             WHERE id IN (SELECT input_id FROM reaction_bursts)",
        )
        .await?;
        // Only the bursts now marked on their inputs: one that a replica of
        // the previous release records meanwhile stays for its coalescer.
        db.execute_unprepared(
            "DELETE FROM reaction_bursts WHERE input_id IN \
               (SELECT id FROM inputs WHERE reactions_since IS NOT NULL)",
        )
        .await?;
        Ok(())
    }
}
