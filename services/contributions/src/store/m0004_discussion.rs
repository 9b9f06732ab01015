//! Comments, reactions and the bursts of reactions waiting to be announced.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

pub struct AddDiscussion;

impl MigrationName for AddDiscussion {
    fn name(&self) -> &str {
        "m0004_discussion"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for AddDiscussion {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(c("comments"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("input_id")))
                .col(uuid(c("project_id")))
                .col(uuid_null(c("parent_id")))
                .col(string(c("author_id")))
                .col(text(c("body")))
                .col(boolean(c("internal")))
                .col(string_null(c("request_id")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone(c("updated_at")))
                .col(timestamp_with_time_zone_null(c("deleted_at")))
                .col(timestamp_with_time_zone_null(c("hidden_at")))
                .col(big_integer(c("version")))
                .col(big_integer(c("open_reports")).default(0))
                .to_owned(),
            // The primary key is what makes a reaction one per person per
            // input, however many arrive at once.
            Table::create()
                .table(c("reactions"))
                .if_not_exists()
                .col(uuid(c("input_id")))
                .col(string(c("user_id")))
                .col(string(c("direction")))
                .col(timestamp_with_time_zone(c("created_at")))
                .primary_key(Index::create().col(c("input_id")).col(c("user_id")))
                .to_owned(),
            Table::create()
                .table(c("reaction_bursts"))
                .if_not_exists()
                .col(uuid(c("input_id")).primary_key())
                .col(uuid(c("project_id")))
                .col(timestamp_with_time_zone(c("first_at")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let indexes = [
            // An input's top-level comments, oldest first, walked by id.
            index(
                "comments_input_thread",
                "comments",
                &["input_id", "parent_id", "id"],
            ),
            // The replies of a page of comments, oldest first.
            index("comments_parent", "comments", &["parent_id", "id"]),
            // The coalescer's scan for bursts whose window has passed.
            index("reaction_bursts_first_at", "reaction_bursts", &["first_at"]),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        // Retry keys belong to whoever sent them, as for inputs.
        let mut retries = index("comments_request", "comments", &["author_id", "request_id"]);
        manager.create_index(retries.unique().to_owned()).await
    }
}
