//! Statuses and official feedback, the counters every read shows, and what
//! the phase's method asks (dislikes, proposals' threshold, voting).

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, double, json_binary, string, string_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

pub struct AddAnswers;

impl MigrationName for AddAnswers {
    fn name(&self) -> &str {
        "m0003_answers"
    }
}

fn c(name: &str) -> Alias {
    Alias::new(name)
}

/// One column per statement: SQLite adds a single column per ALTER TABLE.
async fn add_columns(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(c(table))
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for AddAnswers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            "projected_phases",
            vec![
                boolean(c("dislikes")).default(false).to_owned(),
                big_integer(c("support_threshold")).default(0).to_owned(),
                big_integer(c("expiry_days")).default(0).to_owned(),
                string(c("vote_kind")).default("").to_owned(),
                big_integer(c("max_votes")).default(0).to_owned(),
                big_integer(c("total_budget")).default(0).to_owned(),
            ],
        )
        .await?;
        add_columns(
            manager,
            "inputs",
            vec![
                timestamp_with_time_zone_null(c("hidden_at")),
                big_integer(c("cost")).default(0).to_owned(),
                big_integer(c("support_threshold")).default(0).to_owned(),
                timestamp_with_time_zone_null(c("expires_at")),
                timestamp_with_time_zone_null(c("first_feedback_at")),
                timestamp_with_time_zone_null(c("overdue_at")),
                big_integer(c("reactions_up")).default(0).to_owned(),
                big_integer(c("reactions_down")).default(0).to_owned(),
                big_integer(c("comment_count")).default(0).to_owned(),
                big_integer(c("vote_count")).default(0).to_owned(),
                big_integer(c("open_reports")).default(0).to_owned(),
                double(c("trending")).default(0.0).to_owned(),
            ],
        )
        .await?;
        add_columns(
            manager,
            "statistics",
            [
                "participant_count",
                "comment_count",
                "reaction_count",
                "vote_count",
                "answered_count",
                "overdue_count",
            ]
            .into_iter()
            .map(|name| big_integer(c(name)).default(0).to_owned())
            .collect(),
        )
        .await?;

        let tables = [
            Table::create()
                .table(c("status_counts"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(uuid(c("phase_id")))
                .col(string(c("status")))
                .col(big_integer(c("count")))
                .primary_key(
                    Index::create()
                        .col(c("project_id"))
                        .col(c("phase_id"))
                        .col(c("status")),
                )
                .to_owned(),
            Table::create()
                .table(c("participants"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(uuid(c("phase_id")))
                .col(string(c("user_id")))
                .primary_key(
                    Index::create()
                        .col(c("project_id"))
                        .col(c("phase_id"))
                        .col(c("user_id")),
                )
                .to_owned(),
            Table::create()
                .table(c("answer_times"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(uuid(c("phase_id")))
                .col(big_integer(c("hours")))
                .col(big_integer(c("count")))
                .primary_key(
                    Index::create()
                        .col(c("project_id"))
                        .col(c("phase_id"))
                        .col(c("hours")),
                )
                .to_owned(),
            // One row per topic of an input: the topic filter walks
            // (project, topic) newest first like the default listing.
            Table::create()
                .table(c("input_topics"))
                .if_not_exists()
                .col(uuid(c("project_id")))
                .col(string(c("topic")))
                .col(uuid(c("input_id")))
                .primary_key(
                    Index::create()
                        .col(c("project_id"))
                        .col(c("topic"))
                        .col(c("input_id")),
                )
                .to_owned(),
            Table::create()
                .table(c("blocked_people"))
                .if_not_exists()
                .col(string(c("user_id")).primary_key())
                .col(timestamp_with_time_zone_null(c("until")))
                .to_owned(),
            Table::create()
                .table(c("follows"))
                .if_not_exists()
                .col(string(c("user_id")))
                .col(string(c("target_type")))
                .col(uuid(c("target_id")))
                .col(uuid(c("project_id")))
                .col(timestamp_with_time_zone(c("created_at")))
                .primary_key(
                    Index::create()
                        .col(c("user_id"))
                        .col(c("target_type"))
                        .col(c("target_id")),
                )
                .to_owned(),
            Table::create()
                .table(c("input_history"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("input_id")))
                .col(string(c("kind")))
                .col(string_null(c("from_status")))
                .col(string_null(c("to_status")))
                .col(uuid_null(c("feedback_id")))
                .col(string(c("actor_id")))
                .col(timestamp_with_time_zone(c("at")))
                .to_owned(),
            Table::create()
                .table(c("feedback"))
                .if_not_exists()
                .col(uuid(c("id")).primary_key())
                .col(uuid(c("input_id")))
                .col(uuid(c("project_id")))
                .col(json_binary(c("body")))
                .col(string(c("signed_by")))
                .col(string(c("author_id")))
                .col(timestamp_with_time_zone(c("created_at")))
                .col(timestamp_with_time_zone(c("updated_at")))
                .col(big_integer(c("revision")))
                .to_owned(),
            Table::create()
                .table(c("feedback_revisions"))
                .if_not_exists()
                .col(uuid(c("feedback_id")))
                .col(big_integer(c("revision")))
                .col(json_binary(c("body")))
                .col(string(c("signed_by")))
                .col(string(c("author_id")))
                .col(timestamp_with_time_zone(c("at")))
                .primary_key(Index::create().col(c("feedback_id")).col(c("revision")))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let indexes = [
            index("input_history_input", "input_history", &["input_id", "id"]),
            index("feedback_input", "feedback", &["input_id", "id"]),
            // Overdue: the worker's scan for inputs to announce, and the
            // staff's list of a project's unanswered inputs by deadline.
            index(
                "inputs_unannounced_overdue",
                "inputs",
                &["feedback_given", "overdue_at", "answer_deadline"],
            ),
            index(
                "inputs_project_unanswered",
                "inputs",
                &["project_id", "feedback_given", "answer_deadline", "id"],
            ),
            // Proposals waiting for supporters, by expiry.
            index("inputs_expiry", "inputs", &["status", "expires_at"]),
            // The other sorts, each an index range per project.
            index(
                "inputs_project_reactions",
                "inputs",
                &["project_id", "reactions_up", "id"],
            ),
            index(
                "inputs_project_comments",
                "inputs",
                &["project_id", "comment_count", "id"],
            ),
            index(
                "inputs_project_trending",
                "inputs",
                &["project_id", "trending", "id"],
            ),
            index("inputs_author", "inputs", &["author_id", "id"]),
            // A target's followers, for "my follows" the primary key serves.
            index("follows_target", "follows", &["target_type", "target_id"]),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}
