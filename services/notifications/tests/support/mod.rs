//! Notifications, started for real against an SMTP sink, fed events on the
//! shared broker (the embedded one, or RabbitMQ), with a manual clock.

#![allow(dead_code)] // each test binary uses part of this module

pub use inspraak_kit::testing::smtp;

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use inspraak_bus::store::inbox;
pub use inspraak_host::testing::{Backend, Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_notifications::settings::{MailTransport, NotificationsSettings, SmtpSecurity};
use inspraak_notifications::store::entities::deliveries;
use inspraak_notifications::{NotificationsService, handler};
use inspraak_proto::events::v1::Envelope;
use inspraak_proto::notifications::v1::notifications_client::NotificationsClient;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tonic::Request;
use tonic::transport::Channel;

use smtp::SmtpSink;

pub struct Platform {
    pub server: TestServer,
    pub shared: Shared,
    pub database: TestDatabase,
    pub sink: SmtpSink,
    /// Every envelope published, to redeliver them all.
    pub published: std::sync::Mutex<Vec<Envelope>>,
}

#[derive(Clone, Debug)]
pub struct Who {
    pub id: String,
    pub email: String,
    pub roles: Vec<String>,
}

pub fn settings(sink: &SmtpSink) -> NotificationsSettings {
    let mut settings = NotificationsSettings::to_directory(std::env::temp_dir());
    settings.transport = MailTransport::Smtp {
        host: "127.0.0.1".to_owned(),
        port: sink.port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        timeout: StdDuration::from_secs(5),
    };
    settings.from = "Inspraak <no-reply@city.example>".to_owned();
    settings.public_url = "https://inspraak.city.example".to_owned();
    settings.poll_interval = StdDuration::from_millis(50);
    settings.retry_base = StdDuration::from_secs(60);
    settings.retry_max = StdDuration::from_secs(600);
    settings
}

impl Platform {
    pub async fn start(backend: Backend) -> Self {
        Self::start_on(backend.database().await, Shared::new().await).await
    }

    /// On PostgreSQL and the real RabbitMQ.
    pub async fn start_on_rabbitmq() -> Self {
        Self::start_on(TestDatabase::postgres().await, Shared::rabbitmq().await).await
    }

    pub async fn start_on(database: TestDatabase, shared: Shared) -> Self {
        Self::start_with(database, shared, &[]).await
    }

    /// As `start_on`, with environment `variables` over the test defaults.
    pub async fn start_with(
        database: TestDatabase,
        shared: Shared,
        variables: &[(&str, &str)],
    ) -> Self {
        let sink = SmtpSink::start().await;
        let server = TestServer::start_with(
            NotificationsService::new(settings(&sink)),
            &database,
            &shared,
            variables,
        )
        .await;
        let context = &server.running.context;
        context
            .bus
            .consumer(
                context.db.clone(),
                handler::PURPOSE,
                handler::BINDINGS,
                handler::Notifier {
                    state: NotificationsService::new(settings(&sink)).state(context),
                },
            )
            .declare()
            .await
            .expect("the notify queue");
        Self {
            server,
            shared,
            database,
            sink,
            published: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
        self.shared
            .cleanup(&["notifications.notify", "notifications.dlq"])
            .await;
    }

    pub fn client(&self) -> NotificationsClient<Channel> {
        NotificationsClient::new(self.server.channel.clone())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.shared.clock.advance(by).expect("a manual clock");
    }

    pub fn token(&self, who: &Who) -> String {
        let roles: Vec<&str> = who.roles.iter().map(String::as_str).collect();
        let claims = self
            .shared
            .keys
            .claims(PrincipalKind::Person, &who.id, &roles, self.now());
        self.shared.keys.sign(&claims)
    }

    pub fn by<T>(&self, message: T, who: Option<&Who>) -> Request<T> {
        match who {
            Some(who) => authed(message, &self.token(who)),
            None => Request::new(message),
        }
    }

    /// Publishes an event as its producer's relay would; returns its id.
    pub async fn publish<M: prost::Name>(
        &self,
        event_type: &str,
        version: u64,
        payload: &M,
    ) -> String {
        let envelope = self.envelope(event_type, version, payload);
        self.publish_together(std::slice::from_ref(&envelope)).await;
        envelope.event_id
    }

    /// Publishes `envelopes` one after another without waiting, so the
    /// consumer may find several in hand at once; returns once all were
    /// handled.
    pub async fn publish_together(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            self.send(envelope).await;
            self.published
                .lock()
                .expect("the list")
                .push(envelope.clone());
        }
        for envelope in envelopes {
            self.wait_handled(&envelope.event_id).await;
        }
    }

    /// An event as its producer would write it, with a fresh id.
    pub fn envelope<M: prost::Name>(
        &self,
        event_type: &str,
        version: u64,
        payload: &M,
    ) -> Envelope {
        Envelope {
            event_id: uuid::Uuid::now_v7().to_string(),
            r#type: event_type.to_owned(),
            occurred_at: Some(ts(self.now())),
            producer: event_type.split('.').next().unwrap_or_default().to_owned(),
            aggregate_type: "test".to_owned(),
            aggregate_id: uuid::Uuid::now_v7().to_string(),
            aggregate_version: version,
            traceparent: String::new(),
            tracestate: String::new(),
            payload: Some(prost_types::Any {
                type_url: M::type_url(),
                value: payload.encode_to_vec(),
            }),
        }
    }

    async fn send(&self, envelope: &Envelope) {
        self.shared.publish(envelope).await;
    }

    /// Publishes every event again, as a broker redelivering would.
    pub async fn redeliver_all(&self) {
        let all = self.published.lock().expect("the list").clone();
        for envelope in &all {
            self.send(envelope).await;
        }
    }

    pub async fn wait_handled(&self, event_id: &str) {
        self.wait_until("the event to be handled", || async {
            inbox::Entity::find()
                .filter(inbox::Column::EventId.eq(event_id))
                .one(&self.server.running.context.db)
                .await
                .expect("read the inbox")
                .is_some()
        })
        .await;
    }

    /// Waits until the sink holds `count` mails, then a little longer to
    /// catch any extra one, and returns them.
    pub async fn mails(&self, count: usize) -> Vec<smtp::Mail> {
        self.wait_until(&format!("{count} mails"), || async {
            self.sink.mails().await.len() >= count
        })
        .await;
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        self.sink.mails().await
    }

    pub async fn deliveries(&self) -> Vec<deliveries::Model> {
        deliveries::Entity::find()
            .all(&self.server.running.context.db)
            .await
            .expect("read deliveries")
    }

    pub async fn wait_until<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + StdDuration::from_secs(20);
        while !check().await {
            assert!(Instant::now() < deadline, "waited in vain for {what}");
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }

    /// A person identity announced, with `roles` granted.
    pub async fn person(&self, locale: &str, roles: &[&str]) -> Who {
        let id = uuid::Uuid::now_v7().to_string();
        let email = format!("{}@city.example", &id[id.len() - 12..]);
        self.publish(
            "identity.user.registered.v1",
            1,
            &inspraak_proto::events::v1::UserRegistered {
                user_id: id.clone(),
                email: email.clone(),
                display_name: format!("Person {}", &id[id.len() - 4..]),
                locale: locale.to_owned(),
                email_confirmed: true,
            },
        )
        .await;
        for role in roles {
            self.publish(
                "identity.role.granted.v1",
                2,
                &inspraak_proto::events::v1::RoleGranted {
                    user_id: id.clone(),
                    role: (*role).to_owned(),
                    project_reviewer: false,
                    granted_by: String::new(),
                },
            )
            .await;
        }
        Who {
            id,
            email,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

/// Events and states the tests use again and again.
impl Platform {
    /// Publishes a project titled `title` (in English and Dutch) with
    /// `manager` on its team; returns its id.
    pub async fn project(&self, title: &str, manager: Option<&Who>) -> String {
        use inspraak_proto::projects::v1 as projects;
        let id = uuid::Uuid::now_v7().to_string();
        self.publish(
            "projects.project.published.v1",
            1,
            &inspraak_proto::events::v1::ProjectChanged {
                project: Some(projects::Project {
                    id: id.clone(),
                    title: Some(projects::LocalizedText {
                        text: std::collections::HashMap::from([
                            ("en".to_owned(), title.to_owned()),
                            ("nl".to_owned(), title.to_owned()),
                        ]),
                    }),
                    state: projects::ProjectState::Published as i32,
                    team: manager.map(|m| projects::Team {
                        manager_ids: vec![m.id.clone()],
                        communication_contact_id: String::new(),
                    }),
                    ..Default::default()
                }),
            },
        )
        .await;
        id
    }

    /// Someone else comments on `author`'s input: a COMMENTS notice for
    /// the author. Returns the event id.
    pub async fn comment(
        &self,
        author: &Who,
        project_id: &str,
        input_id: &str,
        input_title: &str,
    ) -> String {
        self.publish(
            "contributions.comment.posted.v1",
            1,
            &inspraak_proto::events::v1::CommentPosted {
                comment_id: uuid::Uuid::now_v7().to_string(),
                input_id: input_id.to_owned(),
                project_id: project_id.to_owned(),
                author_id: uuid::Uuid::now_v7().to_string(),
                input_author_id: author.id.clone(),
                input_title: input_title.to_owned(),
                excerpt: format!("About {input_title}"),
                ..Default::default()
            },
        )
        .await
    }

    /// Feedback on `author`'s input: a FEEDBACK notice for the author.
    pub async fn feedback(
        &self,
        author: &Who,
        project_id: &str,
        input_id: &str,
        input_title: &str,
    ) -> String {
        self.publish(
            "contributions.feedback.published.v1",
            2,
            &inspraak_proto::events::v1::FeedbackPublished {
                feedback_id: uuid::Uuid::now_v7().to_string(),
                input_id: input_id.to_owned(),
                project_id: project_id.to_owned(),
                input_author_id: author.id.clone(),
                input_title: input_title.to_owned(),
                body: std::collections::HashMap::from([(
                    "en".to_owned(),
                    format!("Our answer on {input_title}"),
                )]),
                signed_by: "Green Service".to_owned(),
                author_id: uuid::Uuid::now_v7().to_string(),
                status: "accepted".to_owned(),
                ..Default::default()
            },
        )
        .await
    }

    /// `who` follows the project: its updates are PROJECTS notices.
    pub async fn follow_project(&self, who: &Who, project_id: &str) {
        self.publish(
            "contributions.follow.changed.v1",
            1,
            &inspraak_proto::events::v1::FollowChanged {
                user_id: who.id.clone(),
                target_type: "project".to_owned(),
                target_id: project_id.to_owned(),
                project_id: project_id.to_owned(),
                following: true,
                at: None,
            },
        )
        .await;
    }

    /// An update posted on the project (by nobody known): a PROJECTS notice
    /// for its followers.
    pub async fn update(&self, project_id: &str, title: &str) -> String {
        use inspraak_proto::projects::v1 as projects;
        self.publish(
            "projects.update.posted.v1",
            1,
            &inspraak_proto::events::v1::UpdatePosted {
                update: Some(projects::ProjectUpdate {
                    id: uuid::Uuid::now_v7().to_string(),
                    project_id: project_id.to_owned(),
                    title: Some(projects::LocalizedText {
                        text: std::collections::HashMap::from([(
                            "en".to_owned(),
                            title.to_owned(),
                        )]),
                    }),
                    author_id: uuid::Uuid::now_v7().to_string(),
                    ..Default::default()
                }),
            },
        )
        .await
    }

    /// A confirmation code mailed to `who`: transactional.
    pub async fn confirmation(&self, who: &Who, code: &str) -> String {
        self.publish(
            "identity.user.confirmation_requested.v1",
            1,
            &inspraak_proto::events::v1::ConfirmationRequested {
                user_id: who.id.clone(),
                email: who.email.clone(),
                locale: "en".to_owned(),
                code: code.to_owned(),
                expires_at: None,
            },
        )
        .await
    }

    /// `who`'s e-mail deliveries, oldest first.
    pub async fn deliveries_of(&self, who: &Who) -> Vec<deliveries::Model> {
        let mut rows: Vec<deliveries::Model> = deliveries::Entity::find()
            .filter(deliveries::Column::UserId.eq(who.id.as_str()))
            .all(&self.server.running.context.db)
            .await
            .expect("read deliveries");
        rows.sort_by_key(|d| d.id);
        rows
    }

    /// The service's state, as the workers see it (for the HTTP endpoint).
    pub fn state(&self) -> inspraak_notifications::state::State {
        NotificationsService::new(settings(&self.sink)).state(&self.server.running.context)
    }

    /// A signed-in caller notifications has never heard of.
    pub fn stranger(&self, roles: &[&str]) -> Who {
        let id = uuid::Uuid::now_v7().to_string();
        Who {
            email: format!("{}@elsewhere.example", &id[id.len() - 12..]),
            id,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// Moves the clock forward to the next `weekday` at `hour`:`minute` in
    /// Brussels (the platform's default zone); returns that instant.
    pub fn advance_to_local(
        &self,
        weekday: chrono::Weekday,
        hour: u32,
        minute: u32,
    ) -> DateTime<Utc> {
        let at = next_local(self.now(), weekday, hour, minute);
        self.shared.clock.set(at).expect("a manual clock");
        at
    }
}

/// The next `weekday` at `hour`:`minute` in Brussels after `now`.
pub fn next_local(
    now: DateTime<Utc>,
    weekday: chrono::Weekday,
    hour: u32,
    minute: u32,
) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    let zone = chrono_tz::Europe::Brussels;
    let mut day = now.with_timezone(&zone).date_naive();
    loop {
        if day.weekday() == weekday
            && let Some(at) = zone
                .with_ymd_and_hms(day.year(), day.month(), day.day(), hour, minute, 0)
                .earliest()
            && at.with_timezone(&Utc) > now
        {
            return at.with_timezone(&Utc);
        }
        day = day.succ_opt().expect("a next day");
    }
}

pub fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// The mails to `who`.
pub fn to<'a>(mails: &'a [smtp::Mail], who: &Who) -> Vec<&'a smtp::Mail> {
    mails.iter().filter(|m| m.to.contains(&who.email)).collect()
}

/// The status of a call that must fail with `code`.
pub fn refused<T: std::fmt::Debug>(
    outcome: Result<T, tonic::Status>,
    code: tonic::Code,
    what: &str,
) -> tonic::Status {
    match outcome {
        Ok(value) => panic!("{what}: expected {code:?}, but it succeeded with {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{what}: {status:?}");
            status
        }
    }
}
