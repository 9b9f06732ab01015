//! Whether a project screens input before it becomes public.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

pub struct AddPrescreening;

impl MigrationName for AddPrescreening {
    fn name(&self) -> &str {
        "m0007_prescreening"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPrescreening {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("projected_projects"))
                    .add_column(
                        boolean(Alias::new("prescreening"))
                            .default(false)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await
    }
}
