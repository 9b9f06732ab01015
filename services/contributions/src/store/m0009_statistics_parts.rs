//! The statistics of a project and of each phase kept in parts: a row per
//! writing connection instead of one row. Every reaction, vote, comment and
//! input counts in its project's and its phase's statistics within its own
//! transaction, so with one row each, all writers in a project queued for
//! the same two row locks until their commits (WAL flush included). Parts
//! are summed on read; the counts already kept move into part 0.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, uuid};

pub struct SplitStatistics;

impl MigrationName for SplitStatistics {
    fn name(&self) -> &str {
        "m0009_statistics_parts"
    }
}

/// The counts a statistics row keeps, in both tables.
const COUNTS: [&str; 7] = [
    "input_count",
    "participant_count",
    "comment_count",
    "reaction_count",
    "vote_count",
    "answered_count",
    "overdue_count",
];

fn c(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for SplitStatistics {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(c("statistics_parts"))
            .if_not_exists()
            .col(uuid(c("project_id")))
            .col(uuid(c("phase_id")))
            .col(integer(c("part")));
        for count in COUNTS {
            table.col(big_integer(c(count)).default(0).to_owned());
        }
        table.primary_key(
            Index::create()
                .col(c("project_id"))
                .col(c("phase_id"))
                .col(c("part")),
        );
        manager.create_table(table.to_owned()).await?;
        let counts = COUNTS.join(", ");
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO statistics_parts (project_id, phase_id, part, {counts}) \
                 SELECT project_id, phase_id, 0, {counts} FROM statistics"
            ))
            .await?;
        manager
            .drop_table(Table::drop().table(c("statistics")).to_owned())
            .await
    }
}
