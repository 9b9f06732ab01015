//! The two tables the bus keeps in every service's own database: the outbox
//! (events written with the change they describe, waiting to be published)
//! and the inbox (events already handled, so a redelivery has no effect).

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub event_id: String,
        pub routing_key: String,
        /// The encoded `inspraak.events.v1.Envelope`.
        pub body: Vec<u8>,
        /// W3C trace context of the writing operation, for the AMQP headers.
        pub traceparent: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod inbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        /// The queue whose handler applied the event: one service may handle
        /// the same event in two queues, each exactly once.
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub handled_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
