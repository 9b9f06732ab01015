//! Indexes for the posting limits: a person's posts of the last minute are
//! an index range, however much they posted before.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;

pub struct AddPostingLimitIndexes;

impl MigrationName for AddPostingLimitIndexes {
    fn name(&self) -> &str {
        "m0008_posting_limits"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPostingLimitIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                "inputs_author_created",
                "inputs",
                &["author_id", "created_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "comments_author_created",
                "comments",
                &["author_id", "created_at"],
            ))
            .await
    }
}
