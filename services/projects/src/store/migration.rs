//! Projects' schema. Migrations only ever add: a released one never changes.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, json_binary, string, string_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(inspraak_bus::migration::CreateOutboxAndInbox),
            Box::new(CreateProjectsSchema),
            Box::new(AddPrescreening),
        ]
    }
}

struct CreateProjectsSchema;

impl MigrationName for CreateProjectsSchema {
    fn name(&self) -> &str {
        "m0002_projects_schema"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

fn version() -> ColumnDef {
    ColumnDef::new(c("version"))
        .big_integer()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProjectsSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(c("settings"))
                .if_not_exists()
                .col(
                    ColumnDef::new(c("version"))
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(json_binary(c("settings")))
                .col(string(c("updated_by")))
                .col(timestamp_with_time_zone(c("updated_at")))
                .to_owned(),
            Table::create()
                .table(c("folders"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(json_binary(c("title")))
                .col(json_binary(c("description")))
                .col(timestamp_with_time_zone(c("created_at")))
                .to_owned(),
            Table::create()
                .table(c("proposals"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(json_binary(c("title")))
                .col(json_binary(c("goal")))
                .col(string(c("department_id")))
                .col(json_binary(c("intended_phases")))
                .col(json_binary(c("communication_plan")))
                .col(string(c("proposer_id")))
                .col(string(c("state")))
                .col(string_null(c("decision_reason")))
                .col(string_null(c("decided_by")))
                .col(uuid_null(c("project_id")))
                .col(string_null(c("request_id")))
                .col(timestamp_with_time_zone(c("submitted_at")))
                .col(timestamp_with_time_zone_null(c("decided_at")))
                .col(version())
                .to_owned(),
            Table::create()
                .table(c("projects"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(json_binary(c("title")))
                .col(json_binary(c("description")))
                .col(string(c("state")))
                .col(string(c("visibility")))
                .col(uuid_null(c("folder_id")))
                .col(string(c("department_id")))
                .col(json_binary(c("topics")))
                .col(uuid_null(c("proposal_id")))
                .col(timestamp_with_time_zone_null(c("published_at")))
                .col(boolean(c("has_input")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone(c("updated_at")))
                .col(version())
                .to_owned(),
            Table::create()
                .table(c("project_team"))
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
                .table(c("project_topics"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(string(c("topic")))
                .primary_key(Index::create().col(c("project_id")).col(c("topic")))
                .to_owned(),
            Table::create()
                .table(c("phases"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("project_id")))
                .col(json_binary(c("title")))
                .col(json_binary(c("description")))
                .col(timestamp_with_time_zone(c("starts_at")))
                .col(timestamp_with_time_zone_null(c("ends_at")))
                .col(json_binary(c("method")))
                .col(json_binary(c("permissions")))
                .col(boolean(c("has_input")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone_null(c("started_announced_at")))
                .col(timestamp_with_time_zone_null(c("ending_soon_announced_at")))
                .col(timestamp_with_time_zone_null(c("ended_announced_at")))
                .to_owned(),
            Table::create()
                .table(c("milestones"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("project_id")))
                .col(json_binary(c("title")))
                .col(timestamp_with_time_zone(c("at")))
                .col(timestamp_with_time_zone_null(c("approaching_announced_at")))
                .to_owned(),
            Table::create()
                .table(c("updates"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("project_id")))
                .col(json_binary(c("title")))
                .col(json_binary(c("body")))
                .col(string(c("author_id")))
                .col(timestamp_with_time_zone(c("posted_at")))
                .col(string_null(c("request_id")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let indexes = [
            index("proposals_state", "proposals", &["state", "id"]),
            index("proposals_proposer", "proposals", &["proposer_id", "id"]),
            index("projects_state", "projects", &["state", "id"]),
            index("projects_folder", "projects", &["folder_id", "id"]),
            index("projects_department", "projects", &["department_id", "id"]),
            index("project_team_user", "project_team", &["user_id"]),
            index(
                "project_topics_topic",
                "project_topics",
                &["topic", "project_id"],
            ),
            index("phases_project", "phases", &["project_id", "starts_at"]),
            index("phases_starts", "phases", &["starts_at"]),
            index("phases_ends", "phases", &["ends_at"]),
            index("milestones_project", "milestones", &["project_id", "at"]),
            index(
                "updates_project",
                "updates",
                &["project_id", "posted_at", "id"],
            ),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        // Retry keys belong to whoever sent them: another caller's key is
        // another request.
        let mut proposal_retries = index(
            "proposals_request",
            "proposals",
            &["proposer_id", "request_id"],
        );
        manager
            .create_index(proposal_retries.unique().to_owned())
            .await?;
        let mut update_retries = index(
            "updates_request",
            "updates",
            &["project_id", "author_id", "request_id"],
        );
        manager
            .create_index(update_retries.unique().to_owned())
            .await
    }
}

struct AddPrescreening;

impl MigrationName for AddPrescreening {
    fn name(&self) -> &str {
        "m0003_prescreening"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPrescreening {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(c("projects"))
                    .add_column(
                        ColumnDef::new(c("prescreening"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }
}
