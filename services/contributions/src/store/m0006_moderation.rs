//! Reports and the moderation queue.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

pub struct AddModeration;

impl MigrationName for AddModeration {
    fn name(&self) -> &str {
        "m0006_moderation"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for AddModeration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(c("reports"))
                    .if_not_exists()
                    .col(uuid(c("id")).primary_key())
                    .col(string(c("target_type")))
                    .col(uuid(c("target_id")))
                    .col(uuid(c("project_id")))
                    .col(string(c("reporter_id")))
                    .col(string(c("reason")))
                    .col(text(c("text")))
                    .col(timestamp_with_time_zone(c("created_at")))
                    .col(string(c("resolution")))
                    .col(string_null(c("resolved_by")))
                    .col(timestamp_with_time_zone_null(c("resolved_at")))
                    .col(string_null(c("note")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(c("moderation_items"))
                    .if_not_exists()
                    .col(string(c("target_type")))
                    .col(uuid(c("target_id")))
                    .col(uuid(c("project_id")))
                    .col(big_integer(c("open_reports")))
                    .col(timestamp_with_time_zone_null(c("queued_at")))
                    .col(boolean(c("hidden_automatically")))
                    .primary_key(Index::create().col(c("target_type")).col(c("target_id")))
                    .to_owned(),
            )
            .await?;
        // One report per person and target: the database refuses the
        // second, also when two arrive at once.
        let mut once = index(
            "reports_once",
            "reports",
            &["target_type", "target_id", "reporter_id"],
        );
        manager.create_index(once.unique().to_owned()).await?;
        manager
            .create_index(index(
                "reports_target",
                "reports",
                &["target_type", "target_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "moderation_queue",
                "moderation_items",
                &["project_id", "queued_at", "target_id"],
            ))
            .await
    }
}
