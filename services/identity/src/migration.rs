//! The identity service's schema.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(inspraak_bus::migration::CreateOutboxAndInbox)]
    }
}
