//! Identity's schema. Migrations only ever add: a released one never changes.

use inspraak_kit::db::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_pk_auto, boolean, integer, json_binary, string, string_null, string_uniq,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(inspraak_bus::migration::CreateOutboxAndInbox),
            Box::new(CreateIdentitySchema),
            Box::new(SealSigningKeys),
        ]
    }
}

struct CreateIdentitySchema;

impl MigrationName for CreateIdentitySchema {
    fn name(&self) -> &str {
        "m0002_identity_schema"
    }
}

fn blob_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).blob().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIdentitySchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = |name: &str| Alias::new(name);
        let c = |name: &str| Alias::new(name);

        manager
            .create_table(
                Table::create()
                    .table(t("users"))
                    .if_not_exists()
                    .col(uuid(c("id")).primary_key())
                    .col(string_uniq(c("email")))
                    .col(timestamp_with_time_zone_null(c("email_confirmed_at")))
                    .col(string(c("display_name")))
                    .col(string(c("locale")))
                    .col(json_binary(c("fields")))
                    .col(string(c("status")))
                    .col(timestamp_with_time_zone_null(c("blocked_until")))
                    .col(string_null(c("block_reason")))
                    .col(timestamp_with_time_zone(c("created_at")))
                    .col(timestamp_with_time_zone(c("updated_at")))
                    .col(ColumnDef::new(c("version")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("users_status", "users", &["status", "id"]))
            .await?;
        manager
            .create_index(index("users_display_name", "users", &["display_name"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("credentials"))
                    .if_not_exists()
                    .col(uuid(c("user_id")).primary_key())
                    .col(string(c("password_hash")))
                    .col(timestamp_with_time_zone(c("changed_at")))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("one_time_codes"))
                    .if_not_exists()
                    .col(uuid(c("id")).primary_key())
                    .col(uuid(c("user_id")))
                    .col(string(c("purpose")))
                    .col(string(c("code_hash")))
                    .col(timestamp_with_time_zone(c("expires_at")))
                    .col(timestamp_with_time_zone_null(c("used_at")))
                    .col(integer(c("failed_attempts")))
                    .col(timestamp_with_time_zone(c("created_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "one_time_codes_user",
                "one_time_codes",
                &["user_id", "purpose"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("refresh_tokens"))
                    .if_not_exists()
                    .col(uuid(c("id")).primary_key())
                    .col(uuid(c("family_id")))
                    .col(uuid(c("user_id")))
                    .col(string_uniq(c("token_hash")))
                    .col(timestamp_with_time_zone(c("issued_at")))
                    .col(timestamp_with_time_zone(c("expires_at")))
                    .col(timestamp_with_time_zone_null(c("used_at")))
                    .col(timestamp_with_time_zone_null(c("revoked_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "refresh_tokens_family",
                "refresh_tokens",
                &["family_id"],
            ))
            .await?;
        manager
            .create_index(index("refresh_tokens_user", "refresh_tokens", &["user_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("signing_keys"))
                    .if_not_exists()
                    .col(string(c("kid")).primary_key())
                    .col(blob_col(c("private_key")))
                    .col(string(c("public_x")))
                    .col(timestamp_with_time_zone(c("created_at")))
                    .col(timestamp_with_time_zone_null(c("retired_at")))
                    .col(timestamp_with_time_zone_null(c("verify_until")))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("role_grants"))
                    .if_not_exists()
                    .col(uuid(c("user_id")))
                    .col(string(c("role")))
                    .col(boolean(c("project_reviewer")))
                    .col(string(c("granted_by")))
                    .col(timestamp_with_time_zone(c("granted_at")))
                    .primary_key(Index::create().col(c("user_id")).col(c("role")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "role_grants_role",
                "role_grants",
                &["role", "user_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("role_changes"))
                    .if_not_exists()
                    .col(big_pk_auto(c("id")))
                    .col(uuid(c("user_id")))
                    .col(string(c("role")))
                    .col(boolean(c("granted")))
                    .col(string(c("changed_by")))
                    .col(timestamp_with_time_zone(c("changed_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("role_changes_user", "role_changes", &["user_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("departments"))
                    .if_not_exists()
                    .col(uuid(c("id")).primary_key())
                    .col(string_uniq(c("name")))
                    .col(ColumnDef::new(c("request_id")).string().null().unique_key())
                    .col(timestamp_with_time_zone_null(c("archived_at")))
                    .col(timestamp_with_time_zone(c("created_at")))
                    .col(ColumnDef::new(c("version")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("department_members"))
                    .if_not_exists()
                    .col(uuid(c("department_id")))
                    .col(uuid(c("user_id")))
                    .col(timestamp_with_time_zone(c("added_at")))
                    .primary_key(Index::create().col(c("department_id")).col(c("user_id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "department_members_user",
                "department_members",
                &["user_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("registration_policy"))
                    .if_not_exists()
                    .col(
                        ColumnDef::new(c("version"))
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(json_binary(c("policy")))
                    .col(string(c("updated_by")))
                    .col(timestamp_with_time_zone(c("updated_at")))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("login_failures"))
                    .if_not_exists()
                    .col(big_pk_auto(c("id")))
                    .col(string(c("subject")))
                    .col(timestamp_with_time_zone(c("failed_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "login_failures_subject",
                "login_failures",
                &["subject", "failed_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("login_locks"))
                    .if_not_exists()
                    .col(string(c("subject")).primary_key())
                    .to_owned(),
            )
            .await
    }
}

/// Which key-encryption key sealed each signing key (none: stored as it is;
/// every key stored before this migration). See `key_sealing`.
struct SealSigningKeys;

impl MigrationName for SealSigningKeys {
    fn name(&self) -> &str {
        "m0003_sealed_signing_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SealSigningKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("signing_keys"))
                    .add_column(string_null(Alias::new("sealed_by")))
                    .to_owned(),
            )
            .await
    }
}
