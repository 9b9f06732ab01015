//! Contributions' schema. Migrations only ever add: a released one never
//! changes.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, double_null, integer, json_binary, string, string_null, text,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(inspraak_bus::migration::CreateOutboxAndInbox),
            Box::new(CreateContributionsSchema),
            Box::new(super::m0003_answers::AddAnswers),
            Box::new(super::m0004_discussion::AddDiscussion),
            Box::new(super::m0005_voting::AddVoting),
            Box::new(super::m0006_moderation::AddModeration),
            Box::new(super::m0007_prescreening::AddPrescreening),
            Box::new(super::m0008_posting_limits::AddPostingLimitIndexes),
            Box::new(super::m0009_statistics_parts::SplitStatistics),
            Box::new(super::m0010_reactions_since::MoveBurstsOntoInputs),
        ]
    }
}

struct CreateContributionsSchema;

impl MigrationName for CreateContributionsSchema {
    fn name(&self) -> &str {
        "m0002_contributions_schema"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for CreateContributionsSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(c("projected_projects"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(string(c("state")))
                .col(string(c("visibility")))
                .col(big_integer(c("version")))
                .to_owned(),
            Table::create()
                .table(c("projected_team"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(string(c("user_id")))
                .col(string(c("role")))
                .primary_key(
                    Index::create()
                        .col(c("project_id"))
                        .col(c("user_id"))
                        .col(c("role")),
                )
                .to_owned(),
            Table::create()
                .table(c("projected_phases"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("project_id")))
                .col(timestamp_with_time_zone(c("starts_at")))
                .col(timestamp_with_time_zone_null(c("ends_at")))
                .col(string(c("method")))
                .col(string(c("post")))
                .col(string(c("comment")))
                .col(string(c("react")))
                .col(string(c("vote")))
                .to_owned(),
            Table::create()
                .table(c("charter"))
                .if_not_exists()
                .col(integer(c("id")).primary_key())
                .col(big_integer(c("answer_target_days")))
                .col(big_integer(c("moderation_threshold")))
                .col(big_integer(c("version")))
                .to_owned(),
            Table::create()
                .table(c("inputs"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("project_id")))
                .col(uuid(c("phase_id")))
                .col(string(c("title")))
                .col(text(c("body")))
                .col(json_binary(c("topics")))
                .col(double_null(c("latitude")))
                .col(double_null(c("longitude")))
                .col(boolean(c("anonymous")))
                .col(string(c("author_id")))
                .col(string(c("status")))
                .col(string_null(c("request_id")))
                .col(boolean(c("feedback_given")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone(c("answer_deadline")))
                .col(timestamp_with_time_zone(c("updated_at")))
                .col(timestamp_with_time_zone_null(c("deleted_at")))
                .col(big_integer(c("version")))
                .to_owned(),
            Table::create()
                .table(c("statistics"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(uuid(c("phase_id")))
                .col(big_integer(c("input_count")))
                .primary_key(Index::create().col(c("project_id")).col(c("phase_id")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let indexes = [
            index("projected_team_user", "projected_team", &["user_id"]),
            index(
                "projected_phases_project",
                "projected_phases",
                &["project_id"],
            ),
            // The default listing: a project's (or a phase's) inputs, newest
            // first, walked by id — a page is an index range whatever the
            // number of inputs.
            index("inputs_project", "inputs", &["project_id", "id"]),
            index("inputs_phase", "inputs", &["phase_id", "id"]),
            index(
                "inputs_project_status",
                "inputs",
                &["project_id", "status", "id"],
            ),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        // Retry keys belong to whoever sent them: another author's key is
        // another request.
        let mut retries = index("inputs_request", "inputs", &["author_id", "request_id"]);
        manager.create_index(retries.unique().to_owned()).await
    }
}
