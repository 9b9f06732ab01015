//! The bus's tables, included in every service's migrator.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_pk_auto, blob, string, text, timestamp_with_time_zone};

/// Creates `outbox` and `inbox`. Sent outbox rows are deleted once the broker
/// confirmed them, so the table holds only the backlog and a claim never walks
/// past published rows.
pub struct CreateOutboxAndInbox;

impl MigrationName for CreateOutboxAndInbox {
    fn name(&self) -> &str {
        "m0001_bus_outbox_and_inbox"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    RoutingKey,
    Body,
    Traceparent,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Inbox {
    Table,
    Consumer,
    EventId,
    HandledAt,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutboxAndInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Outbox::Id))
                    .col(string(Outbox::EventId))
                    .col(string(Outbox::RoutingKey))
                    .col(blob(Outbox::Body))
                    .col(text(Outbox::Traceparent))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Inbox::Table)
                    .if_not_exists()
                    .col(string(Inbox::Consumer))
                    .col(string(Inbox::EventId))
                    .col(timestamp_with_time_zone(Inbox::HandledAt))
                    .primary_key(Index::create().col(Inbox::Consumer).col(Inbox::EventId))
                    .to_owned(),
            )
            .await?;
        // Pruning old inbox rows goes by age.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("inbox_handled_at")
                    .table(Inbox::Table)
                    .col(Inbox::HandledAt)
                    .to_owned(),
            )
            .await
    }
}
