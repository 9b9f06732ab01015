//! Contributions' tables, as sea-orm entities: the projection of projects'
//! facts (`projected_*`, `charter`) and contributions' own data.

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

entity!(projected_projects, "projected_projects", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// draft, published, archived
    pub state: String,
    /// public, registered, staff
    pub visibility: String,
    /// The envelope's aggregate_version of the copy: older events are ignored.
    pub version: i64,
});

entity!(projected_team, "projected_team", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// manager or communication_contact
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
});

entity!(projected_phases, "projected_phases", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub starts_at: DateTimeUtc,
    pub ends_at: Option<DateTimeUtc>,
    /// information, ideation, proposals, voting, poll
    pub method: String,
    /// everyone, registered, confirmed_email, verified, admins_and_managers
    pub post: String,
    pub comment: String,
    pub react: String,
    pub vote: String,
});

entity!(charter, "charter", {
    /// Always 1: the platform has one charter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub answer_target_days: i64,
    pub moderation_threshold: i64,
    pub version: i64,
});

entity!(inputs, "inputs", {
    /// UUIDv7, so the newest-first order is the id order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub phase_id: Uuid,
    pub title: String,
    pub body: String,
    pub topics: Json,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub anonymous: bool,
    pub author_id: String,
    pub status: String,
    /// The author's retry key: unique per author.
    pub request_id: Option<String>,
    pub feedback_given: bool,
    pub created_at: DateTimeUtc,
    pub answer_deadline: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    pub version: i64,
});

entity!(statistics, "statistics", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    /// The nil UUID for the project's own row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phase_id: Uuid,
    pub input_count: i64,
});
