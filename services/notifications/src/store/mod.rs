//! What notifications keeps: its projections of people, teams, follows and
//! the platform's settings; inboxes, preferences and e-mail deliveries.

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

pub mod entities;
pub mod migration;

pub use migration::Migrator;
