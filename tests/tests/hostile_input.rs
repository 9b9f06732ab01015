//! Every RPC of the four services fed hostile and boundary values: empty and
//! very long strings, malformed and unknown ids, SQL and HTML payloads,
//! unknown enum values, far-past and far-future times, negative and huge
//! numbers, random bytes that are not a message at all, and a message over
//! the size limit — as nobody, as a resident and as a platform admin.
//!
//! The messages are built from the services' own descriptors, so an RPC
//! added later is swept too. What must hold:
//! - no call answers INTERNAL, UNKNOWN or DATA_LOSS (bad input is the
//!   caller's fault and gets a precise status), nor UNIMPLEMENTED;
//! - a refused call changes nothing: no event carries its trace (every
//!   write publishes an event in its transaction, so a refused call that
//!   had stored anything would show here);
//! - every service still answers afterwards;
//! - nobody (no token) succeeds on anything but the public RPCs, and a
//!   resident never succeeds on the staff's RPCs — the authorisation
//!   matrix over every RPC × {nobody, resident}; the sweep prints how many
//!   attempts should have been denied and how many were not.
//!
//! Prints one summary line with the counts. This binary holds one test: it
//! owns the process's global subscriber.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer};
use inspraak_identity::{IdentityService, IdentitySettings};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_notifications::{NotificationsService, NotificationsSettings};
use inspraak_projects::{ProjectsService, ProjectsSettings};
use opentelemetry::trace::TracerProvider as _;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;

// --- a codec for raw protobuf bytes ----------------------------------------

#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Self::Encoder {
        Raw
    }

    fn decoder(&mut self) -> Self::Decoder {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

// --- hostile messages from the descriptors ---------------------------------

const LONG: usize = 100_000;

/// The strings every string field gets in turn.
fn hostile_strings() -> Vec<String> {
    vec![
        String::new(),
        "   ".to_owned(),
        "x".repeat(LONG),
        "'; DROP TABLE inputs; --".to_owned(),
        "<script>alert(1)</script><img src=x onerror=alert(2)>".to_owned(),
        "not-a-uuid".to_owned(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
        uuid::Uuid::now_v7().to_string(),
        "\u{0}\u{1}\u{7f}".to_owned(),
        "🙂".repeat(5_000),
        "../../../etc/passwd".to_owned(),
        "%00%ff' OR '1'='1".to_owned(),
    ]
}

/// The integers every numeric field gets in turn: zero, negative, the
/// extremes (far past and far future as timestamps).
const NUMBERS: [i64; 5] = [0, -1, i64::MIN, i64::MAX, 253_402_300_800];

struct Messages {
    by_name: HashMap<String, DescriptorProto>,
}

impl Messages {
    fn new(set: &FileDescriptorSet) -> Self {
        fn walk(
            prefix: &str,
            messages: &[DescriptorProto],
            out: &mut HashMap<String, DescriptorProto>,
        ) {
            for message in messages {
                let name = format!("{prefix}.{}", message.name());
                walk(&name, &message.nested_type, out);
                out.insert(name, message.clone());
            }
        }
        let mut by_name = HashMap::new();
        for file in &set.file {
            walk(
                &format!(".{}", file.package()),
                &file.message_type,
                &mut by_name,
            );
        }
        Self { by_name }
    }

    /// `type_name` with every field set to variant `k` of its type's
    /// hostile values; nested messages down to `depth`.
    fn encode(&self, type_name: &str, k: usize, depth: usize, out: &mut Vec<u8>) {
        let Some(message) = self.by_name.get(type_name) else {
            return;
        };
        let strings = hostile_strings();
        for field in &message.field {
            let tag = u32::try_from(field.number()).unwrap_or(1);
            let repeated = field.label() == Label::Repeated;
            let copies = if repeated { 3 } else { 1 };
            for copy in 0..copies {
                let k = k + copy;
                match field.r#type() {
                    Type::String | Type::Bytes => {
                        prost::encoding::string::encode(tag, &strings[k % strings.len()], out);
                    }
                    Type::Bool => prost::encoding::bool::encode(tag, &k.is_multiple_of(2), out),
                    Type::Enum => {
                        // Unknown values, and the first real one.
                        let value = [999, -1, 1][k % 3];
                        prost::encoding::int32::encode(tag, &value, out);
                    }
                    Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
                        let value = NUMBERS[k % NUMBERS.len()] as i32;
                        prost::encoding::int32::encode(tag, &value, out);
                    }
                    Type::Uint32 | Type::Fixed32 => {
                        let value = NUMBERS[k % NUMBERS.len()] as u32;
                        prost::encoding::uint32::encode(tag, &value, out);
                    }
                    Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
                        prost::encoding::int64::encode(tag, &NUMBERS[k % NUMBERS.len()], out);
                    }
                    Type::Uint64 | Type::Fixed64 => {
                        let value = NUMBERS[k % NUMBERS.len()] as u64;
                        prost::encoding::uint64::encode(tag, &value, out);
                    }
                    Type::Double => {
                        let value = [f64::NAN, f64::INFINITY, -1e308, 0.0][k % 4];
                        prost::encoding::double::encode(tag, &value, out);
                    }
                    Type::Float => {
                        let value = [f32::NAN, f32::NEG_INFINITY, 1e38, 0.0][k % 4];
                        prost::encoding::float::encode(tag, &value, out);
                    }
                    Type::Message if depth > 0 => {
                        let mut inner = Vec::new();
                        self.encode(field.type_name(), k, depth - 1, &mut inner);
                        prost::encoding::bytes::encode(tag, &inner, out);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A deterministic pseudo-random byte stream (xorshift), so a failure can
/// be replayed.
struct Noise(u64);

impl Noise {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 & 0xff) as u8
            })
            .collect()
    }
}

// --- who may succeed --------------------------------------------------------

/// The RPCs anyone may call without signing in: registration and sign-in,
/// the public keys, and the public reads of projects and input.
const PUBLIC: &[&str] = &[
    "identity.v1.SigningKeys/GetJwks",
    "identity.v1.Identity/Register",
    "identity.v1.Identity/ConfirmEmail",
    "identity.v1.Identity/ResendConfirmation",
    "identity.v1.Identity/Login",
    "identity.v1.Identity/Refresh",
    "identity.v1.Identity/Logout",
    "identity.v1.Identity/RequestPasswordReset",
    "identity.v1.Identity/ResetPassword",
    "identity.v1.Identity/IssueServiceToken",
    "identity.v1.Identity/GetRegistrationPolicy",
    // Feedback is signed by a department: their names are public.
    "identity.v1.Identity/ListDepartments",
    "projects.v1.Projects/GetPublicSettings",
    "projects.v1.Projects/ListFolders",
    "projects.v1.Projects/GetProject",
    "projects.v1.Projects/ListProjects",
    "projects.v1.Projects/ListUpdates",
    "projects.v1.Projects/GetTimeline",
    "contributions.v1.Contributions/GetInput",
    "contributions.v1.Contributions/ListInputs",
    "contributions.v1.Contributions/GetStatistics",
    "contributions.v1.Discussion/ListComments",
    "contributions.v1.Answers/ListFeedback",
    "contributions.v1.Answers/GetHistory",
    "contributions.v1.Voting/GetResults",
    "notifications.v1.Notifications/Unsubscribe",
];

/// The RPCs only staff (platform admins, project teams, moderators) or
/// services may succeed on: never a plain resident.
const STAFF: &[&str] = &[
    "identity.v1.Identity/GetUser",
    "identity.v1.Identity/ListUsers",
    "identity.v1.Identity/BlockUser",
    "identity.v1.Identity/UnblockUser",
    "identity.v1.Identity/GrantRole",
    "identity.v1.Identity/RevokeRole",
    "identity.v1.Identity/GetGovernanceOverview",
    "identity.v1.Identity/CreateDepartment",
    "identity.v1.Identity/UpdateDepartment",
    "identity.v1.Identity/ArchiveDepartment",
    "identity.v1.Identity/AddDepartmentMember",
    "identity.v1.Identity/RemoveDepartmentMember",
    "identity.v1.Identity/UpdateRegistrationPolicy",
    "identity.v1.Identity/RotateSigningKey",
    "bus.v1.DeadLetters/ListDeadLetters",
    "bus.v1.DeadLetters/ReplayDeadLetters",
    "projects.v1.Projects/GetPlatformSettings",
    "projects.v1.Projects/UpdatePlatformSettings",
    "projects.v1.Projects/ReviewProposal",
    "projects.v1.Projects/CreateFolder",
    "projects.v1.Projects/UpdateProject",
    "projects.v1.Projects/PublishProject",
    "projects.v1.Projects/UnpublishProject",
    "projects.v1.Projects/ArchiveProject",
    "projects.v1.Projects/SetProjectTeam",
    "projects.v1.Projects/CreatePhase",
    "projects.v1.Projects/UpdatePhase",
    "projects.v1.Projects/DeletePhase",
    "projects.v1.Projects/SetMilestone",
    "projects.v1.Projects/DeleteMilestone",
    "projects.v1.Projects/PostUpdate",
    "contributions.v1.Moderation/ListQueue",
    "contributions.v1.Moderation/GetAudit",
    "contributions.v1.Moderation/Hide",
    "contributions.v1.Moderation/Restore",
    "contributions.v1.Moderation/Dismiss",
    "contributions.v1.Voting/SetInputCost",
    "contributions.v1.Answers/SetStatus",
    "contributions.v1.Answers/PublishFeedback",
    "contributions.v1.Answers/UpdateFeedback",
    "contributions.v1.Answers/BulkAnswer",
    "contributions.v1.Answers/ListOverdue",
    "notifications.v1.Notifications/ListDeliveries",
    "notifications.v1.Notifications/RetryDelivery",
    "notifications.v1.Notifications/GetReport",
    "notifications.v1.Notifications/Announce",
];

/// The RPCs a signed-in person may succeed on for their own things.
const RESIDENT: &[&str] = &[
    "identity.v1.Identity/ChangePassword",
    "identity.v1.Identity/GetMe",
    "identity.v1.Identity/UpdateMe",
    "identity.v1.Identity/DeleteMe",
    "identity.v1.Identity/ExportMyData",
    "projects.v1.Projects/SubmitProposal",
    "projects.v1.Projects/ReviseProposal",
    "projects.v1.Projects/GetProposal",
    "projects.v1.Projects/ListProposals",
    "contributions.v1.Contributions/CreateInput",
    "contributions.v1.Contributions/ListMyInputs",
    "contributions.v1.Contributions/UpdateInput",
    "contributions.v1.Contributions/DeleteInput",
    "contributions.v1.Contributions/ExportMyContributions",
    "contributions.v1.Discussion/PostComment",
    "contributions.v1.Discussion/UpdateComment",
    "contributions.v1.Discussion/DeleteComment",
    "contributions.v1.Discussion/React",
    "contributions.v1.Discussion/Unreact",
    "contributions.v1.Discussion/Follow",
    "contributions.v1.Discussion/Unfollow",
    "contributions.v1.Discussion/ListMyFollows",
    "contributions.v1.Moderation/Report",
    "contributions.v1.Voting/GetBasket",
    "contributions.v1.Voting/AddToBasket",
    "contributions.v1.Voting/RemoveFromBasket",
    "contributions.v1.Voting/SubmitBasket",
    "notifications.v1.Notifications/ListNotifications",
    "notifications.v1.Notifications/GetUnreadCount",
    "notifications.v1.Notifications/MarkRead",
    "notifications.v1.Notifications/MarkAllRead",
    "notifications.v1.Notifications/StreamNotifications",
    "notifications.v1.Notifications/GetPreferences",
    "notifications.v1.Notifications/UpdatePreferences",
];

fn listed(list: &[&str], path: &str) -> bool {
    list.iter().any(|m| path == format!("/inspraak.{m}"))
}

// --- the sweep ---------------------------------------------------------------

struct Method {
    path: String,
    input_type: String,
    streaming: bool,
}

fn methods(set: &FileDescriptorSet) -> Vec<Method> {
    let mut out = Vec::new();
    for file in &set.file {
        // The probe service exists for the kit's own tests only.
        if file.package().starts_with("inspraak.testing") {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                if method.client_streaming() {
                    continue;
                }
                out.push(Method {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    input_type: method.input_type().to_owned(),
                    streaming: method.server_streaming(),
                });
            }
        }
    }
    out
}

/// Calls `path` with `body` as `token` (if any) under trace `trace_id`:
/// the status code, OK included. A stream that stays open is OK.
async fn call(
    channel: &Channel,
    method: &Method,
    body: Vec<u8>,
    token: Option<&str>,
    trace_id: &str,
) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(error) = grpc.ready().await {
        panic!("{}: the channel is not ready: {error}", method.path);
    }
    let mut request = tonic::Request::new(body);
    request.set_timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("a header value"),
    );
    let path = method.path.parse().expect("a method path");
    if method.streaming {
        match grpc.server_streaming(request, path, Raw).await {
            Err(status) => status.code(),
            Ok(response) => {
                let mut stream = response.into_inner();
                match tokio::time::timeout(Duration::from_millis(200), stream.message()).await {
                    Err(_) | Ok(Ok(_)) => Code::Ok,
                    Ok(Err(status)) => status.code(),
                }
            }
        }
    } else {
        match grpc.unary(request, path, Raw).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }
}

/// A resident and the first admin signed in at identity itself (identity
/// trusts only its own tokens): their access tokens.
async fn identity_sessions(server: &TestServer, shared: &Shared) -> (String, String) {
    use inspraak_proto::identity::v1 as identity;
    let client = identity::identity_client::IdentityClient::new(server.channel.clone());
    let password = "a long and careful passphrase";
    let login = |email: String| {
        let mut client = client.clone();
        async move {
            client
                .login(identity::LoginRequest {
                    email,
                    password: password.to_owned(),
                })
                .await
                .expect("sign in")
                .into_inner()
                .access_token
        }
    };

    let email = format!("{}@gent.be", inspraak_kit::testing::unique("resident-"));
    let user = client
        .clone()
        .register(identity::RegisterRequest {
            email: email.clone(),
            password: password.to_owned(),
            display_name: "Resident".to_owned(),
            locale: "nl".to_owned(),
            fields: Default::default(),
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("the new user");
    let events = shared
        .wait_for_events(
            "identity.user.confirmation_requested.v1",
            1,
            Duration::from_secs(10),
        )
        .await;
    let code = events
        .iter()
        .find_map(|event| {
            let e: inspraak_proto::events::v1::ConfirmationRequested =
                inspraak_bus::decode_payload(event).ok()?;
            (e.user_id == user.id).then_some(e.code)
        })
        .expect("the confirmation code");
    client
        .clone()
        .confirm_email(identity::ConfirmEmailRequest {
            email: email.clone(),
            code,
        })
        .await
        .expect("confirm");
    let resident = login(email).await;

    let email = format!("{}@gent.be", inspraak_kit::testing::unique("admin-"));
    let state = IdentityService::new(IdentitySettings::defaults())
        .state(&server.running.context)
        .expect("identity's state");
    let parsed = inspraak_identity::domain::Email::parse("email", &email).expect("an e-mail");
    let inspraak_identity::bootstrap::Bootstrapped::Created { setup_code, .. } =
        inspraak_identity::bootstrap::first_admin(&state, &parsed)
            .await
            .expect("bootstrap")
    else {
        panic!("the platform already had an admin");
    };
    client
        .clone()
        .reset_password(identity::ResetPasswordRequest {
            email: email.clone(),
            code: setup_code,
            new_password: password.to_owned(),
        })
        .await
        .expect("the first admin's password");
    let admin = login(email).await;
    (resident, admin)
}

fn server_fault(code: Code) -> bool {
    matches!(
        code,
        Code::Internal
            | Code::Unknown
            | Code::DataLoss
            | Code::Unimplemented
            | Code::Unavailable
            | Code::Cancelled
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_survives_hostile_input_and_refusals_store_nothing() {
    // Spans must exist for the outbox to record each call's trace.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            // What the services report as their own errors, next to a
            // failure of this test.
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            ),
    )
    .expect("the only subscriber of this binary");

    let shared = Shared::new().await;
    let databases: Vec<TestDatabase> = (0..4).map(|_| TestDatabase::sqlite()).collect();
    let mail = std::env::temp_dir().join(inspraak_kit::testing::unique("inspraak-hostile-"));
    let servers = [
        (
            "inspraak.identity.",
            TestServer::start(
                IdentityService::new(IdentitySettings::defaults()),
                &databases[0],
                &shared,
            )
            .await,
        ),
        (
            "inspraak.projects.",
            TestServer::start(
                ProjectsService::new(ProjectsSettings::defaults()),
                &databases[1],
                &shared,
            )
            .await,
        ),
        (
            "inspraak.contributions.",
            TestServer::start(
                ContributionsService::new(ContributionsSettings::defaults()),
                &databases[2],
                &shared,
            )
            .await,
        ),
        (
            "inspraak.notifications.",
            TestServer::start(
                NotificationsService::new(NotificationsSettings::to_directory(mail.clone())),
                &databases[3],
                &shared,
            )
            .await,
        ),
    ];

    let set = FileDescriptorSet::decode(inspraak_proto::FILE_DESCRIPTOR_SET)
        .expect("the services' descriptors");
    let messages = Messages::new(&set);
    let now = shared.clock.now();
    let sign = |roles: &[&str]| {
        let claims = shared.keys.claims(
            PrincipalKind::Person,
            &uuid::Uuid::now_v7().to_string(),
            roles,
            now,
        );
        shared.keys.sign(&claims)
    };
    // Identity trusts its own tokens; the other services trust the test's
    // key server.
    let (identity_resident, identity_admin) = identity_sessions(&servers[0].1, &shared).await;
    let callers_of = |package: &str| -> [(&'static str, Option<String>); 3] {
        if package == "inspraak.identity." {
            [
                ("nobody", None),
                ("resident", Some(identity_resident.clone())),
                ("admin", Some(identity_admin.clone())),
            ]
        } else {
            [
                ("nobody", None),
                ("resident", Some(sign(&[]))),
                ("admin", Some(sign(&["platform_admin"]))),
            ]
        }
    };
    let mut noise = Noise(0x5eed_1234_abcd_ef01);
    let variants = hostile_strings().len();

    let mut calls = 0u64;
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let mut accepted_traces = Vec::new();
    let mut refused_traces: HashMap<String, String> = HashMap::new();
    let mut faults = Vec::new();
    let mut trace = 0u128;
    // The authorisation matrix: attempts that must be denied, and those of
    // them that were not.
    let mut must_deny = 0u64;
    let mut not_denied = Vec::new();
    // Every attempt, made eight at a time.
    struct Attempt {
        method: std::sync::Arc<Method>,
        channel: Channel,
        caller: &'static str,
        token: Option<String>,
        what: String,
        body: Vec<u8>,
        trace_id: String,
    }
    let mut attempts = Vec::new();
    for method in methods(&set) {
        let method = std::sync::Arc::new(method);
        // The bus's dead-letter service runs in every service.
        let targets: Vec<&(&str, TestServer)> = servers
            .iter()
            .filter(|(package, _)| {
                method.path.starts_with(&format!("/{package}"))
                    || method.path.starts_with("/inspraak.bus.")
            })
            .collect();
        assert!(!targets.is_empty(), "no service serves {}", method.path);
        let mut bodies: Vec<(String, Vec<u8>)> = vec![("empty".to_owned(), Vec::new())];
        for k in 0..variants {
            let mut body = Vec::new();
            messages.encode(&method.input_type, k, 3, &mut body);
            bodies.push((format!("variant {k}"), body));
        }
        for n in [1, 7, 64, 512] {
            bodies.push((format!("{n} random bytes"), noise.bytes(n)));
        }
        for (package, server) in targets {
            for (caller, token) in callers_of(package) {
                for (what, body) in &bodies {
                    trace += 1;
                    attempts.push(Attempt {
                        method: method.clone(),
                        channel: server.channel.clone(),
                        caller,
                        token: token.clone(),
                        what: what.clone(),
                        body: body.clone(),
                        trace_id: format!("{trace:032x}"),
                    });
                }
            }
        }
    }
    let outcomes: Vec<(Attempt, Code)> = futures_util::stream::iter(attempts)
        .map(|attempt| async move {
            let code = call(
                &attempt.channel,
                &attempt.method,
                attempt.body.clone(),
                attempt.token.as_deref(),
                &attempt.trace_id,
            )
            .await;
            (attempt, code)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (attempt, code) in outcomes {
        let Attempt {
            method,
            caller,
            what,
            trace_id,
            ..
        } = attempt;
        calls += 1;
        if server_fault(code) {
            faults.push(format!("{} as {caller} with {what}: {code:?}", method.path));
        }
        let denied_to = match caller {
            "nobody" => !listed(PUBLIC, &method.path),
            "resident" => listed(STAFF, &method.path),
            _ => false,
        };
        if denied_to {
            must_deny += 1;
            if code == Code::Ok {
                not_denied.push(format!("{} as {caller} with {what}", method.path));
            }
        }
        if code == Code::Ok {
            accepted_traces.push(trace_id);
        } else {
            *refused.entry(format!("{code:?}")).or_default() += 1;
            refused_traces.insert(trace_id, format!("{} as {caller} with {what}", method.path));
        }
    }

    // Over the size limit.
    let oversized = Method {
        path: "/inspraak.contributions.v1.Contributions/CreateInput".to_owned(),
        input_type: ".inspraak.contributions.v1.CreateInputRequest".to_owned(),
        streaming: false,
    };
    let mut body = Vec::new();
    prost::encoding::string::encode(3, &"x".repeat(8 * 1024 * 1024), &mut body);
    let code = call(
        &servers[2].1.channel,
        &oversized,
        body,
        Some(sign(&[]).as_str()),
        &format!("{:032x}", u128::MAX),
    )
    .await;
    calls += 1;
    // tonic refuses a message over GRPC_MAX_MESSAGE_BYTES as OUT_OF_RANGE
    // before any of the service's code runs.
    assert_eq!(code, Code::OutOfRange, "a message over the limit");

    // Let every relay publish what was committed, then look for the traces
    // of refused calls among the events.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = shared.events().await;
    let leaked: Vec<String> = events
        .iter()
        .filter_map(|event| {
            let trace_id = event.traceparent.split('-').nth(1)?;
            refused_traces
                .get(trace_id)
                .map(|call| format!("{} after refused {call}", event.r#type))
        })
        .collect();

    // Everybody still answers.
    for (_, server) in &servers {
        let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel.clone());
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .expect("the service still answers");
    }

    println!(
        "hostile input: {calls} calls, {} accepted, refused {refused:?}, {} server faults, {} events, {} from refused calls",
        accepted_traces.len(),
        faults.len(),
        events.len(),
        leaked.len(),
    );
    println!(
        "authorisation matrix: {must_deny} attempts that must be denied, {} succeeded",
        not_denied.len()
    );
    // Every RPC is in the matrix (none is forgotten when one is added).
    for method in methods(&set) {
        let known = listed(PUBLIC, &method.path)
            || listed(STAFF, &method.path)
            || listed(RESIDENT, &method.path);
        assert!(known, "{} is in neither list", method.path);
    }
    let mut by_method: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for fault in &faults {
        let method = fault.split(' ').next().unwrap_or_default().to_owned();
        let entry = by_method.entry(method).or_default();
        entry.0 += 1;
        if entry.0 <= 3 {
            entry.1.push_str(&format!("\n      {fault}"));
        }
    }
    assert!(
        faults.is_empty(),
        "server faults for bad input (count, first three):\n{}",
        by_method
            .values()
            .map(|(n, first)| format!("{n:5} {first}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        not_denied.is_empty(),
        "succeeded though they must be denied:\n{}",
        not_denied.join("\n")
    );
    assert!(
        leaked.is_empty(),
        "refused calls that wrote:\n{}",
        leaked.join("\n")
    );
    assert!(calls > 1_000, "the sweep ran: {calls} calls");

    for (_, server) in servers {
        server.stop().await;
    }
    let _ = std::fs::remove_dir_all(&mail);
}
