//! A real identity server for tests: its gRPC API on port 0, on PostgreSQL
//! or SQLite, with the embedded broker capturing the events it publishes
//! (that is where tests read the one-time codes notifications would e-mail).

#![allow(dead_code)] // each test binary uses part of this module

use std::time::Duration;

use chrono::Utc;
use inspraak_bus::broker::{QueueKind, QueueSpec};
use inspraak_bus::decode_payload;
use inspraak_host::{Defaults, Running, ServiceConfig};
use inspraak_identity::{IdentityService, IdentitySettings};

use inspraak_kit::testing::TestDatabase;
use inspraak_kit::{Clock, Env};
use inspraak_proto::events::v1::{ConfirmationRequested, Envelope, PasswordResetRequested};
use inspraak_proto::identity::v1 as proto;
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::identity::v1::signing_keys_client::SigningKeysClient;
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use inspraak_proto::identity::v1::PlatformRole;

pub use inspraak_host::testing::Backend;

pub const PASSWORD: &str = "a long enough passphrase";
const EVENTS_QUEUE: &str = "test.identity.events";

pub struct Identity {
    pub client: IdentityClient<Channel>,
    pub keys: SigningKeysClient<Channel>,
    pub running: Running,
    pub clock: Clock,
    pub backend: Backend,
    shutdown: CancellationToken,
    database: TestDatabase,
    _bus: TestDatabase,
    settings: IdentitySettings,
}

/// A signed-in person.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

/// The key id in an access token's header.
pub fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT");
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64"),
    )
    .expect("json");
    json["kid"].as_str().expect("a kid").to_owned()
}

pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

pub fn unique_email(prefix: &str) -> String {
    format!("{}@gent.be", inspraak_kit::testing::unique(prefix))
}

impl Identity {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, IdentitySettings::defaults()).await
    }

    pub async fn start_with(backend: Backend, settings: IdentitySettings) -> Self {
        let database = backend.database().await;
        let identity = Self::launch(backend, settings, database).await;
        identity.wait_ready().await;
        identity
    }

    /// Starts identity on `database` (one an earlier instance used) without
    /// waiting for it to be ready.
    pub async fn launch(
        backend: Backend,
        settings: IdentitySettings,
        database: TestDatabase,
    ) -> Self {
        let bus = TestDatabase::sqlite();
        let bus_url = bus.url.clone();
        let env = Env::from_pairs([
            ("GRPC_ADDR", "127.0.0.1:0"),
            ("ADMIN_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", database.url.as_str()),
            ("BUS_URL", bus_url.as_str()),
            ("SHUTDOWN_DRAIN_TIMEOUT", "2s"),
        ]);
        let config = ServiceConfig::from_env(&env, "identity", 0, Defaults::default())
            .expect("test configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let clock = Clock::manual(Utc::now());
        let shutdown = CancellationToken::new();
        let running = inspraak_host::start_on(
            IdentityService::new(settings.clone()),
            config,
            listener,
            clock.clone(),
            shutdown.clone(),
            None,
        )
        .await
        .expect("identity starts");
        running
            .context
            .bus
            .broker()
            .declare_queue(&QueueSpec {
                name: EVENTS_QUEUE.to_owned(),
                bindings: vec!["identity.#".to_owned()],
                kind: QueueKind::Classic,
                dead_letter_queue: String::new(),
                delivery_limit: 0,
            })
            .await
            .expect("test queue");
        let channel = Channel::from_shared(format!("http://{}", running.addr))
            .expect("uri")
            .connect_lazy();
        Self {
            client: IdentityClient::new(channel.clone()),
            keys: SigningKeysClient::new(channel),
            running,
            clock,
            backend,
            shutdown,
            database,
            _bus: bus,
            settings,
        }
    }

    pub fn state(&self) -> inspraak_identity::state::State {
        IdentityService::new(self.settings.clone())
            .state(&self.running.context)
            .expect("state")
    }

    /// Waits until identity reports ready (at most 20 s).
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.running.readiness.is_ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "identity never became ready: {:?}",
                self.running.readiness.unmet()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.stop_keeping_database().await;
    }

    /// GetMe with `token`: whether identity accepts it.
    pub async fn get_me(&self, token: &str) -> Result<proto::User, tonic::Status> {
        self.client
            .clone()
            .get_me(authed(proto::GetMeRequest {}, token))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Stops identity and hands back its database, for another instance.
    pub async fn stop_keeping_database(self) -> TestDatabase {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.running.stopped).await;
        self.database
    }

    /// Every event identity published so far, oldest first.
    pub async fn events(&self) -> Vec<Envelope> {
        let (messages, _) = self
            .running
            .context
            .bus
            .broker()
            .peek(EVENTS_QUEUE, 10_000)
            .await
            .expect("peek events");
        messages
            .iter()
            .map(|m| Envelope::decode(m.body.as_slice()).expect("an envelope"))
            .collect()
    }

    /// Waits for an event of `event_type` about `aggregate_id` and returns the
    /// newest one.
    pub async fn event(&self, event_type: &str, aggregate_id: &str) -> Envelope {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .events()
                .await
                .into_iter()
                .rfind(|e| e.r#type == event_type && e.aggregate_id == aggregate_id);
            if let Some(event) = found {
                return event;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {event_type} for {aggregate_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The newest confirmation code sent to `user_id`.
    pub async fn confirmation_code(&self, user_id: &str) -> String {
        let event = self
            .event("identity.user.confirmation_requested.v1", user_id)
            .await;
        decode_payload::<ConfirmationRequested>(&event)
            .expect("payload")
            .code
    }

    /// The newest password reset (or setup) code sent to `user_id`.
    pub async fn reset_code(&self, user_id: &str) -> String {
        let event = self
            .event("identity.user.password_reset_requested.v1", user_id)
            .await;
        decode_payload::<PasswordResetRequested>(&event)
            .expect("payload")
            .code
    }

    pub async fn register(&self, email: &str) -> proto::User {
        self.client
            .clone()
            .register(proto::RegisterRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
                display_name: "Test Person".to_owned(),
                locale: "nl".to_owned(),
                fields: Default::default(),
            })
            .await
            .expect("register")
            .into_inner()
            .user
            .expect("user")
    }

    pub async fn login(&self, email: &str) -> proto::Session {
        self.client
            .clone()
            .login(proto::LoginRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .expect("login")
            .into_inner()
    }

    /// Registers, confirms and signs in a resident.
    pub async fn resident(&self, prefix: &str) -> Person {
        let email = unique_email(prefix);
        let user = self.register(&email).await;
        let code = self.confirmation_code(&user.id).await;
        self.client
            .clone()
            .confirm_email(proto::ConfirmEmailRequest {
                email: email.clone(),
                code,
            })
            .await
            .expect("confirm");
        let session = self.login(&email).await;
        Person {
            id: user.id,
            email,
            access: session.access_token,
            refresh: session.refresh_token,
        }
    }

    /// The first admin, bootstrapped and signed in.
    pub async fn first_admin(&self) -> Person {
        let email = unique_email("admin-");
        let parsed = inspraak_identity::domain::Email::parse("email", &email).expect("email");
        let outcome = inspraak_identity::bootstrap::first_admin(&self.state(), &parsed)
            .await
            .expect("bootstrap");
        let inspraak_identity::bootstrap::Bootstrapped::Created {
            user_id,
            setup_code,
        } = outcome
        else {
            panic!("the platform already had an admin");
        };
        self.client
            .clone()
            .reset_password(proto::ResetPasswordRequest {
                email: email.clone(),
                code: setup_code,
                new_password: PASSWORD.to_owned(),
            })
            .await
            .expect("set the first password");
        let session = self.login(&email).await;
        Person {
            id: user_id.to_string(),
            email,
            access: session.access_token,
            refresh: session.refresh_token,
        }
    }

    /// A resident promoted to `role` by `admin`, signed in again so the token
    /// carries the role.
    pub async fn staff(&self, admin: &Person, role: PlatformRole, prefix: &str) -> Person {
        let person = self.resident(prefix).await;
        self.client
            .clone()
            .grant_role(authed(
                proto::GrantRoleRequest {
                    user_id: person.id.clone(),
                    role: role as i32,
                    project_reviewer: false,
                },
                &admin.access,
            ))
            .await
            .expect("grant");
        let session = self.login(&person.email).await;
        Person {
            access: session.access_token,
            refresh: session.refresh_token,
            ..person
        }
    }
}
