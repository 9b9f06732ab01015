//! Projects' tables, as sea-orm entities. Texts people read are JSON maps of
//! locale to text; methods and permissions are JSON in their domain shape.

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

entity!(settings, "settings", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    pub settings: Json,
    pub updated_by: String,
    pub updated_at: DateTimeUtc,
});

entity!(folders, "folders", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: Json,
    pub description: Json,
    pub created_at: DateTimeUtc,
});

entity!(proposals, "proposals", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: Json,
    pub goal: Json,
    pub department_id: String,
    pub intended_phases: Json,
    pub communication_plan: Json,
    pub proposer_id: String,
    /// submitted, changes_requested, approved, rejected
    pub state: String,
    pub decision_reason: Option<String>,
    pub decided_by: Option<String>,
    pub project_id: Option<Uuid>,
    /// The proposer's own retry key: unique per proposer.
    pub request_id: Option<String>,
    pub submitted_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub version: i64,
});

entity!(projects, "projects", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: Json,
    pub description: Json,
    /// draft, published, archived
    pub state: String,
    /// public, registered, staff
    pub visibility: String,
    pub folder_id: Option<Uuid>,
    pub department_id: String,
    pub topics: Json,
    pub proposal_id: Option<Uuid>,
    pub published_at: Option<DateTimeUtc>,
    /// Set once contributions reports input: from then on, the project cannot
    /// go back to draft and its phases' methods are fixed.
    pub has_input: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
    /// Input is screened by the staff before it becomes public.
    pub prescreening: bool,
});

entity!(project_team, "project_team", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// manager or communication_contact
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
});

entity!(project_topics, "project_topics", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic: String,
});

entity!(phases, "phases", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: Json,
    pub description: Json,
    pub starts_at: DateTimeUtc,
    pub ends_at: Option<DateTimeUtc>,
    pub method: Json,
    pub permissions: Json,
    pub has_input: bool,
    pub created_at: DateTimeUtc,
    /// When the time-driven events were written; each is claimed by one
    /// conditional update, so it happens once across replicas and restarts.
    pub started_announced_at: Option<DateTimeUtc>,
    pub ending_soon_announced_at: Option<DateTimeUtc>,
    pub ended_announced_at: Option<DateTimeUtc>,
});

entity!(milestones, "milestones", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: Json,
    pub at: DateTimeUtc,
    pub approaching_announced_at: Option<DateTimeUtc>,
});

entity!(updates, "updates", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: Json,
    pub body: Json,
    pub author_id: String,
    pub posted_at: DateTimeUtc,
    /// The poster's retry key: unique per project and author.
    pub request_id: Option<String>,
});
