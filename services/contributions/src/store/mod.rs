//! What contributions keeps: its entities and its schema. Each concern keeps
//! its tables in its own entity module and adds them in its own migration.

/// A sea-orm entity without relations: the module `$module` for `$table`.
macro_rules! entity {
    ($module:ident, $table:literal, { $($body:tt)* }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($body)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

pub mod answers;
pub mod discussion;
pub mod entities;
mod m0003_answers;
mod m0004_discussion;
mod m0005_voting;
mod m0006_moderation;
mod m0007_prescreening;
mod m0008_posting_limits;
mod m0009_statistics_parts;
mod m0010_reactions_since;
pub mod migration;
pub mod moderation;
pub mod voting;

pub use migration::Migrator;
