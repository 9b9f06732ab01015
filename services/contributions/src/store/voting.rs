//! The tables of voting: baskets, their items, and the tallies results read.

// One basket per person and voting phase; its totals move with its items in
// the same transaction, so limits are checked against one row.
entity!(baskets, "baskets", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub phase_id: Uuid,
    pub project_id: Uuid,
    pub voter_id: String,
    /// The sum of the items' costs, in cents.
    pub total_cost: i64,
    pub item_count: i64,
    pub created_at: DateTimeUtc,
    /// Set once: a submitted basket no longer changes.
    pub submitted_at: Option<DateTimeUtc>,
    /// One more per edit: every edit takes the row's lock through it.
    pub version: i64,
});

entity!(basket_items, "basket_items", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub basket_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub input_id: Uuid,
    /// The input's cost when it was added, in cents.
    pub cost: i64,
    pub added_at: DateTimeUtc,
});

// Votes per input of a voting phase, counted when baskets are submitted; the
// nil input's row counts the phase's submitted baskets.
entity!(vote_tallies, "vote_tallies", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub phase_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub input_id: Uuid,
    pub project_id: Uuid,
    pub votes: i64,
});
