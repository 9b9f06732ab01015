//! Voting: each person's basket per voting phase, its items, and the votes
//! per (phase, input) that results read without scanning baskets.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, string, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

pub struct AddVoting;

impl MigrationName for AddVoting {
    fn name(&self) -> &str {
        "m0005_voting"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for AddVoting {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(c("baskets"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("phase_id")))
                .col(uuid(c("project_id")))
                .col(string(c("voter_id")))
                .col(big_integer(c("total_cost")))
                .col(big_integer(c("item_count")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone_null(c("submitted_at")))
                .col(big_integer(c("version")))
                .to_owned(),
            Table::create()
                .table(c("basket_items"))
                .if_not_exists()
                .col(uuid(c("basket_id")))
                .col(uuid(c("input_id")))
                .col(big_integer(c("cost")))
                .col(timestamp_with_time_zone(c("added_at")))
                .primary_key(Index::create().col(c("basket_id")).col(c("input_id")))
                .to_owned(),
            Table::create()
                .table(c("vote_tallies"))
                .if_not_exists()
                .col(uuid(c("phase_id")))
                .col(uuid(c("input_id")))
                .col(uuid(c("project_id")))
                .col(big_integer(c("votes")))
                .primary_key(Index::create().col(c("phase_id")).col(c("input_id")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        // One basket per person and phase: the unique key is also how a
        // basket is found, and what makes its creation race-free.
        let mut voter = index("baskets_phase_voter", "baskets", &["phase_id", "voter_id"]);
        manager.create_index(voter.unique().to_owned()).await?;
        // Results: a phase's tallies, most votes first.
        manager
            .create_index(index(
                "vote_tallies_phase_votes",
                "vote_tallies",
                &["phase_id", "votes", "input_id"],
            ))
            .await
    }
}
