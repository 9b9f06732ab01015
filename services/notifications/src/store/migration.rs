//! Notifications' schema. Migrations only ever add: a released one never
//! changes.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, json_binary, string, string_null, text,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(inspraak_bus::migration::CreateOutboxAndInbox),
            Box::new(CreateNotificationsSchema),
            Box::new(AddOverdueInputs),
            Box::new(AddReport),
            Box::new(AddDeliveryTrace),
            Box::new(AddPersonRoles),
            Box::new(AddReportFactsFirst),
        ]
    }
}

struct CreateNotificationsSchema;

impl MigrationName for CreateNotificationsSchema {
    fn name(&self) -> &str {
        "m0002_notifications_schema"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotificationsSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(c("people"))
                .if_not_exists()
                .col(string(c("user_id")).primary_key())
                .col(string(c("email")))
                .col(string(c("display_name")))
                .col(string(c("locale")))
                .col(json_binary(c("roles")))
                .to_owned(),
            Table::create()
                .table(c("erased_people"))
                .if_not_exists()
                .col(string(c("user_id")).primary_key())
                .to_owned(),
            Table::create()
                .table(c("projects"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(json_binary(c("title")))
                .col(big_integer(c("version")))
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
                .table(c("follows"))
                .if_not_exists()
                .col(string(c("user_id")))
                .col(string(c("target_type")))
                .col(uuid(c("target_id")))
                .col(uuid(c("project_id")))
                .primary_key(
                    Index::create()
                        .col(c("user_id"))
                        .col(c("target_type"))
                        .col(c("target_id")),
                )
                .to_owned(),
            Table::create()
                .table(c("platform"))
                .if_not_exists()
                .col(integer(c("id")).primary_key())
                .col(string(c("time_zone")))
                .col(string(c("default_locale")))
                .col(big_integer(c("version")))
                .to_owned(),
            Table::create()
                .table(c("notifications"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(string(c("user_id")))
                .col(string(c("event_id")))
                .col(string(c("kind")))
                .col(string(c("category")))
                .col(string(c("title")))
                .col(text(c("body")))
                .col(uuid_null(c("project_id")))
                .col(uuid_null(c("input_id")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone_null(c("read_at")))
                .to_owned(),
            Table::create()
                .table(c("deliveries"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(string(c("event_id")))
                .col(string(c("user_id")))
                .col(string(c("channel")))
                .col(string(c("kind")))
                .col(string(c("category")))
                .col(json_binary(c("content")))
                .col(string_null(c("address")))
                .col(string(c("locale")))
                .col(string(c("state")))
                .col(integer(c("attempts")))
                .col(timestamp_with_time_zone(c("next_attempt_at")))
                .col(timestamp_with_time_zone_null(c("leased_until")))
                .col(text(c("last_error")).null())
                .col(timestamp_with_time_zone_null(c("digest_due_at")))
                .col(uuid_null(c("project_id")))
                .col(uuid_null(c("input_id")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone_null(c("sent_at")))
                .to_owned(),
            Table::create()
                .table(c("preferences"))
                .if_not_exists()
                .col(string(c("user_id")))
                .col(string(c("category")))
                .col(string(c("frequency")))
                .primary_key(Index::create().col(c("user_id")).col(c("category")))
                .to_owned(),
            Table::create()
                .table(c("unsubscribe_tokens"))
                .if_not_exists()
                .col(string(c("token")).primary_key())
                .col(string(c("user_id")))
                .col(string(c("category")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let mut unique = [
            // Exactly one per (event, recipient, channel): redeliveries of
            // an event find the row there and add nothing.
            index(
                "notifications_once",
                "notifications",
                &["event_id", "user_id"],
            ),
            index(
                "deliveries_once",
                "deliveries",
                &["event_id", "user_id", "channel"],
            ),
            index(
                "unsubscribe_tokens_once",
                "unsubscribe_tokens",
                &["user_id", "category"],
            ),
        ];
        for index in &mut unique {
            manager.create_index(index.unique().to_owned()).await?;
        }
        let indexes = [
            index("notifications_inbox", "notifications", &["user_id", "id"]),
            index(
                "notifications_unread",
                "notifications",
                &["user_id", "read_at", "id"],
            ),
            index(
                "deliveries_due",
                "deliveries",
                &["state", "next_attempt_at"],
            ),
            index(
                "deliveries_digest",
                "deliveries",
                &["state", "digest_due_at", "user_id"],
            ),
            index("deliveries_person", "deliveries", &["user_id", "id"]),
            index("follows_target", "follows", &["target_type", "target_id"]),
            index("project_team_user", "project_team", &["user_id"]),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

struct AddOverdueInputs;

impl MigrationName for AddOverdueInputs {
    fn name(&self) -> &str {
        "m0003_overdue_inputs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddOverdueInputs {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(c("overdue_inputs"))
                    .if_not_exists()
                    .col(uuid(c("input_id")).primary_key())
                    .col(uuid(c("project_id")))
                    .col(string(c("title")))
                    .col(timestamp_with_time_zone(c("overdue_at")))
                    .col(timestamp_with_time_zone_null(c("answered_at")))
                    .col(timestamp_with_time_zone_null(c("escalated_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "overdue_inputs_due",
                "overdue_inputs",
                &["escalated_at", "answered_at", "overdue_at"],
            ))
            .await
    }
}

struct AddReport;

impl MigrationName for AddReport {
    fn name(&self) -> &str {
        "m0004_report"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReport {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table(c("report_inputs"))
                .if_not_exists()
                .col(uuid(c("input_id")).primary_key())
                .col(uuid(c("project_id")))
                .col(string(c("title")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone_null(c("first_feedback_at")))
                .col(big_integer_null(c("answer_seconds")))
                .col(big_integer(c("reactions_up")))
                .col(boolean(c("overdue")))
                .col(boolean(c("deleted")))
                .to_owned(),
            Table::create()
                .table(c("report_activity"))
                .if_not_exists()
                .col(string(c("event_id")).primary_key())
                .col(uuid(c("project_id")))
                .col(string(c("user_id")))
                .col(timestamp_with_time_zone(c("at")))
                .to_owned(),
            Table::create()
                .table(c("reports_made"))
                .if_not_exists()
                .col(timestamp_with_time_zone(c("period_end")).primary_key())
                .col(timestamp_with_time_zone(c("period_start")))
                .col(boolean(c("sent")))
                .col(timestamp_with_time_zone(c("made_at")))
                .to_owned(),
            Table::create()
                .table(c("report_schedule"))
                .if_not_exists()
                .col(integer(c("id")).primary_key())
                .col(string(c("cadence")))
                .col(integer(c("day")))
                .col(integer(c("hour")))
                .col(big_integer(c("version")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        for index in [
            index("report_inputs_created", "report_inputs", &["created_at"]),
            index(
                "report_inputs_answered",
                "report_inputs",
                &["first_feedback_at"],
            ),
            index("report_activity_at", "report_activity", &["at"]),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

struct AddDeliveryTrace;

impl MigrationName for AddDeliveryTrace {
    fn name(&self) -> &str {
        "m0005_delivery_trace"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddDeliveryTrace {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(c("deliveries"))
                    .add_column(string(c("traceparent")).default(""))
                    .to_owned(),
            )
            .await
    }
}

struct AddPersonRoles;

impl MigrationName for AddPersonRoles {
    fn name(&self) -> &str {
        "m0006_person_roles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPersonRoles {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(c("person_roles"))
                    .if_not_exists()
                    .col(string(c("role")))
                    .col(string(c("user_id")))
                    .primary_key(Index::create().col(c("role")).col(c("user_id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("person_roles_user", "person_roles", &["user_id"]))
            .await
    }
}

/// Facts about an input (an answer, a count, a deletion) may be applied
/// before its creation: the events come over one queue, but in concurrent
/// transactions. Such a fact now keeps a row of its own, marked as not yet
/// knowing the creation; every existing row knew it.
struct AddReportFactsFirst;

impl MigrationName for AddReportFactsFirst {
    fn name(&self) -> &str {
        "m0007_report_facts_first"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReportFactsFirst {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(c("report_inputs"))
                    .add_column(boolean(c("created_known")).default(true))
                    .to_owned(),
            )
            .await
    }
}
