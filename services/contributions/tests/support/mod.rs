//! Contributions, started for real, fed projects' events on the shared
//! broker, with tokens minted for whoever a test needs.

#![allow(dead_code)] // each test binary uses part of this module

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use inspraak_bus::store::inbox;
use inspraak_contributions::projection::{BINDINGS, PURPOSE, ProjectProjection};
use inspraak_contributions::store::entities::{charter, projected_projects};
use inspraak_contributions::{ContributionsService, ContributionsSettings};
pub use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1::answers_client::AnswersClient;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::contributions::v1::moderation_client::ModerationClient;
use inspraak_proto::events::v1 as events;
use inspraak_proto::events::v1::Envelope;
use inspraak_proto::projects::v1 as projects;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tonic::Request;
use tonic::transport::Channel;

pub use inspraak_host::testing::Backend;

pub struct Platform {
    pub server: TestServer,
    pub shared: Shared,
    pub database: TestDatabase,
}

/// A person; their token is minted at each call, at the clock's now (tests
/// move the clock by days, past any token's lifetime).
#[derive(Clone, Debug)]
pub struct Who {
    pub id: String,
    pub roles: Vec<String>,
    pub email_verified: bool,
}

impl Platform {
    /// The service with its defaults, except the flood limits: scenarios
    /// post far faster than people do (the limits have their own tests in
    /// `posting_limits.rs`).
    pub async fn start(backend: Backend) -> Self {
        let settings = ContributionsSettings {
            inputs_per_minute: 10_000,
            comments_per_minute: 10_000,
            ..ContributionsSettings::defaults()
        };
        Self::start_with(backend, settings).await
    }

    /// As `start`, with contributions' settings as given.
    pub async fn start_with(backend: Backend, settings: ContributionsSettings) -> Self {
        let database = backend.database().await;
        let shared = Shared::new().await;
        let server =
            TestServer::start(ContributionsService::new(settings), &database, &shared).await;
        // The projection's queue, declared as the service declares it, so
        // that no event a test publishes reaches the broker before it.
        let context = &server.running.context;
        context
            .bus
            .consumer(context.db.clone(), PURPOSE, BINDINGS, ProjectProjection)
            .declare()
            .await
            .expect("the projection's queue");
        Self {
            server,
            shared,
            database,
        }
    }

    /// Stops the service, runs `meanwhile`, then starts it again on the same
    /// database and broker, as a restart after an outage would.
    pub async fn restart<F, Fut>(self, meanwhile: F) -> Self
    where
        F: FnOnce(Shared) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let Self {
            server,
            shared,
            database,
        } = self;
        server.stop().await;
        meanwhile(shared.clone()).await;
        let server = TestServer::start(
            ContributionsService::new(ContributionsSettings::defaults()),
            &database,
            &shared,
        )
        .await;
        Self {
            server,
            shared,
            database,
        }
    }

    pub fn client(&self) -> ContributionsClient<Channel> {
        ContributionsClient::new(self.server.channel.clone())
    }

    pub fn answers(&self) -> AnswersClient<Channel> {
        AnswersClient::new(self.server.channel.clone())
    }

    /// The service's own state, for driving its workers from a test.
    pub fn state(&self) -> inspraak_contributions::state::State {
        ContributionsService::new(ContributionsSettings::defaults())
            .state(&self.server.running.context)
    }

    pub fn discussion(&self) -> DiscussionClient<Channel> {
        DiscussionClient::new(self.server.channel.clone())
    }

    pub fn moderation(&self) -> ModerationClient<Channel> {
        ModerationClient::new(self.server.channel.clone())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.shared.clock.advance(by).expect("a manual clock");
    }

    pub fn person(&self, roles: &[&str]) -> Who {
        Who {
            id: uuid::Uuid::now_v7().to_string(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            email_verified: true,
        }
    }

    pub fn resident(&self) -> Who {
        self.person(&[])
    }

    pub fn admin(&self) -> Who {
        self.person(&["platform_admin"])
    }

    pub fn token(&self, who: &Who) -> String {
        let roles: Vec<&str> = who.roles.iter().map(String::as_str).collect();
        let mut claims =
            self.shared
                .keys
                .claims(PrincipalKind::Person, &who.id, &roles, self.now());
        claims.email_verified = who.email_verified;
        self.shared.keys.sign(&claims)
    }

    /// `message` as `who` sends it; anonymous when `who` is `None`.
    pub fn by<T>(&self, message: T, who: Option<&Who>) -> Request<T> {
        match who {
            Some(who) => authed(message, &self.token(who)),
            None => Request::new(message),
        }
    }

    /// Publishes a projects event on the shared broker, as projects' relay
    /// would.
    pub async fn publish<M: prost::Name>(
        &self,
        event_type: &str,
        aggregate_id: &str,
        version: u64,
        payload: &M,
    ) -> String {
        publish(&self.shared, event_type, aggregate_id, version, payload).await
    }

    /// Waits until the projection has handled the event `event_id` (applied
    /// or ignored).
    pub async fn wait_handled(&self, event_id: &str) {
        self.wait_until(|| async {
            inbox::Entity::find()
                .filter(inbox::Column::EventId.eq(event_id))
                .one(&self.server.running.context.db)
                .await
                .expect("read the inbox")
                .is_some()
        })
        .await;
    }

    /// Publishes `project` at `version` and waits until the projection
    /// holds that version.
    pub async fn project_changed(
        &self,
        event_type: &str,
        project: &projects::Project,
        version: u64,
    ) {
        self.publish(
            event_type,
            &project.id,
            version,
            &events::ProjectChanged {
                project: Some(project.clone()),
            },
        )
        .await;
        let id = uuid::Uuid::parse_str(&project.id).expect("a project id");
        let wanted = i64::try_from(version).expect("a small version");
        self.wait_until(|| async {
            projected_projects::Entity::find_by_id(id)
                .one(&self.server.running.context.db)
                .await
                .expect("read the projection")
                .is_some_and(|p| p.version == wanted)
        })
        .await;
    }

    /// Publishes the platform settings and waits until the projection holds
    /// the charter.
    pub async fn settings_changed(&self, answer_target_days: u32, version: u64) {
        self.publish(
            "projects.settings.changed.v1",
            "settings",
            version,
            &events::SettingsChanged {
                settings: Some(projects::PlatformSettings {
                    charter: Some(projects::GovernanceCharter {
                        answer_target_days,
                        moderation_threshold: 3,
                        ..Default::default()
                    }),
                    version,
                    ..Default::default()
                }),
            },
        )
        .await;
        self.wait_until(|| async {
            charter::Entity::find_by_id(1)
                .one(&self.server.running.context.db)
                .await
                .expect("read the charter")
                .is_some_and(|c| c.answer_target_days == i64::from(answer_target_days))
        })
        .await;
    }

    pub async fn wait_until<F, Fut>(&self, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + StdDuration::from_secs(15);
        while !check().await {
            assert!(Instant::now() < deadline, "the projection never caught up");
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }
}

/// Publishes a projects event on `shared`'s broker, as projects' relay
/// would. Returns its event id.
pub async fn publish<M: prost::Name>(
    shared: &Shared,
    event_type: &str,
    aggregate_id: &str,
    version: u64,
    payload: &M,
) -> String {
    let envelope = Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.to_owned(),
        occurred_at: Some(ts(shared.clock.now())),
        producer: "projects".to_owned(),
        aggregate_type: "project".to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        aggregate_version: version,
        traceparent: String::new(),
        tracestate: String::new(),
        payload: Some(prost_types::Any {
            type_url: M::type_url(),
            value: payload.encode_to_vec(),
        }),
    };
    shared.publish(&envelope).await;
    envelope.event_id
}

pub fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

pub fn ideation() -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Ideation(
            projects::Ideation { dislikes: false },
        )),
    }
}

pub fn information() -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Information(
            projects::Information {},
        )),
    }
}

pub fn permissions(post: projects::Permission) -> projects::ActionPermissions {
    let registered = projects::Permission::Registered as i32;
    projects::ActionPermissions {
        post: post as i32,
        comment: registered,
        react: registered,
        vote: registered,
    }
}

pub fn phase(
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    method: projects::ParticipationMethod,
    post: projects::Permission,
) -> projects::Phase {
    projects::Phase {
        id: uuid::Uuid::now_v7().to_string(),
        title: None,
        description: None,
        starts_at: Some(ts(from)),
        ends_at: to.map(ts),
        method: Some(method),
        permissions: Some(permissions(post)),
    }
}

/// A published public project managed by `manager`, with `phases`.
pub fn project(manager: &Who, phases: Vec<projects::Phase>) -> projects::Project {
    projects::Project {
        id: uuid::Uuid::now_v7().to_string(),
        state: projects::ProjectState::Published as i32,
        visibility: projects::Visibility::Public as i32,
        team: Some(projects::Team {
            manager_ids: vec![manager.id.clone()],
            communication_contact_id: String::new(),
        }),
        phases,
        ..Default::default()
    }
}

pub fn proposals(support_threshold: u32, expiry_days: u32) -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Proposals(
            projects::Proposals {
                support_threshold,
                expiry_days,
            },
        )),
    }
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
