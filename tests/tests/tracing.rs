//! One trace from a resident's click to the e-mail it caused: an input
//! created with a W3C traceparent, in a project that screens input, becomes
//! spans in contributions (the server), its relay (the publish),
//! notifications (the consumer) and the e-mail telling the project's
//! manager — one trace id, each span the child of the one before.
//! Spans are caught by an in-memory exporter; this binary holds one test,
//! because it owns the process's global subscriber.

use std::time::{Duration as StdDuration, Instant};

use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_notifications::{NotificationsService, NotificationsSettings};
use inspraak_proto::contributions::v1 as contributions;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

async fn publish<M: prost::Name>(shared: &Shared, event_type: &str, payload: &M) {
    let envelope = events::Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.to_owned(),
        occurred_at: None,
        producer: "test".to_owned(),
        aggregate_type: "test".to_owned(),
        aggregate_id: uuid::Uuid::now_v7().to_string(),
        aggregate_version: 1,
        traceparent: String::new(),
        tracestate: String::new(),
        payload: Some(prost_types::Any {
            type_url: M::type_url(),
            value: payload.encode_to_vec(),
        }),
    };
    shared.publish(&envelope).await;
}

fn token(shared: &Shared, id: &str) -> String {
    let claims = shared
        .keys
        .claims(PrincipalKind::Person, id, &[], shared.clock.now());
    shared.keys.sign(&claims)
}

async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

fn find<'a>(spans: &'a [SpanData], what: &str, kind: SpanKind, name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == kind && s.name.contains(name))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{what}: {:?}",
        spans
            .iter()
            .map(|s| (&s.name, &s.span_kind))
            .collect::<Vec<_>>()
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_an_input_to_the_email_it_causes() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test"))),
    )
    .expect("the only subscriber of this binary");

    let shared = Shared::new().await;
    let (contributions_db, notifications_db) = (TestDatabase::sqlite(), TestDatabase::sqlite());
    let mail = std::env::temp_dir().join(format!("inspraak-trace-{}", uuid::Uuid::now_v7()));
    let contributions_server = TestServer::start(
        ContributionsService::new(ContributionsSettings::defaults()),
        &contributions_db,
        &shared,
    )
    .await;
    let notifications_server = TestServer::start(
        NotificationsService::new(NotificationsSettings::to_directory(mail.clone())),
        &notifications_db,
        &shared,
    )
    .await;
    // Both services' queues exist before anything is published.
    let contributions_context = &contributions_server.running.context;
    contributions_context
        .bus
        .consumer(
            contributions_context.db.clone(),
            inspraak_contributions::projection::PURPOSE,
            inspraak_contributions::projection::BINDINGS,
            inspraak_contributions::projection::ProjectProjection,
        )
        .declare()
        .await
        .expect("the projection queue");
    let notifications_context = &notifications_server.running.context;
    let notifier = NotificationsService::new(NotificationsSettings::to_directory(mail.clone()));
    notifications_context
        .bus
        .consumer(
            notifications_context.db.clone(),
            inspraak_notifications::handler::PURPOSE,
            inspraak_notifications::handler::BINDINGS,
            inspraak_notifications::handler::Notifier {
                state: notifier.state(notifications_context),
            },
        )
        .declare()
        .await
        .expect("the notify queue");

    let (author, manager) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    publish(
        &shared,
        "identity.user.registered.v1",
        &events::UserRegistered {
            user_id: manager.clone(),
            email: "manager@city.example".to_owned(),
            display_name: "Manager".to_owned(),
            locale: "en".to_owned(),
            email_confirmed: true,
        },
    )
    .await;
    let now = shared.clock.now();
    let phase_id = uuid::Uuid::now_v7().to_string();
    let ts = |at: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    };
    let registered = projects::Permission::Registered as i32;
    let project = projects::Project {
        id: uuid::Uuid::now_v7().to_string(),
        state: projects::ProjectState::Published as i32,
        visibility: projects::Visibility::Public as i32,
        title: Some(projects::LocalizedText {
            text: [("en".to_owned(), "Canal Park".to_owned())].into(),
        }),
        // Input waits for the manager's screening: the manager is told at
        // once (staff work), so the e-mail goes out in the same trace.
        prescreening: true,
        team: Some(projects::Team {
            manager_ids: vec![manager],
            communication_contact_id: String::new(),
        }),
        phases: vec![projects::Phase {
            id: phase_id.clone(),
            starts_at: Some(ts(now - chrono::Duration::days(1))),
            ends_at: Some(ts(now + chrono::Duration::days(10))),
            method: Some(projects::ParticipationMethod {
                method: Some(projects::participation_method::Method::Ideation(
                    projects::Ideation { dislikes: false },
                )),
            }),
            permissions: Some(projects::ActionPermissions {
                post: registered,
                comment: registered,
                react: registered,
                vote: registered,
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    publish(
        &shared,
        "projects.project.published.v1",
        &events::ProjectChanged {
            project: Some(project.clone()),
        },
    )
    .await;

    // The project reaches contributions through its projection; wait for
    // it with a call outside the trace.
    let mut inputs = ContributionsClient::new(contributions_server.channel.clone());
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while let Err(status) = inputs
        .list_inputs(authed(
            contributions::ListInputsRequest {
                project_id: project.id.clone(),
                ..Default::default()
            },
            &token(&shared, &author),
        ))
        .await
    {
        assert!(
            Instant::now() < deadline,
            "the projection never caught up: {status:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }

    // The resident's click, with the context of their client's span.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let mut create = authed(
        contributions::CreateInputRequest {
            project_id: project.id.clone(),
            phase_id,
            title: "More trees".to_owned(),
            body: "Along the canal".to_owned(),
            ..Default::default()
        },
        &token(&shared, &author),
    );
    create.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{client_span}-01")
            .parse()
            .expect("a header value"),
    );
    let input = inputs
        .create_input(create)
        .await
        .expect("the input")
        .into_inner();
    assert_eq!(
        input.status,
        contributions::InputStatus::Prescreening as i32,
        "the project screens input"
    );

    let email_done = || {
        let exporter = exporter.clone();
        async move {
            exporter
                .get_finished_spans()
                .unwrap_or_default()
                .iter()
                .any(|s| {
                    s.name == "email deliver" && s.span_context.trace_id().to_string() == trace_id
                })
        }
    };
    until("the e-mail delivery's span", email_done).await;
    let _ = provider.force_flush();
    let spans: Vec<SpanData> = exporter
        .get_finished_spans()
        .expect("the spans")
        .into_iter()
        .filter(|s| s.span_context.trace_id().to_string() == trace_id)
        .collect();

    let server = find(&spans, "the server span", SpanKind::Server, "CreateInput");
    let publish = find(
        &spans,
        "the relay's span",
        SpanKind::Producer,
        "contributions.input.created.v1 publish",
    );
    let process = find(
        &spans,
        "the consumer's span",
        SpanKind::Consumer,
        "contributions.input.created.v1 process",
    );
    let deliver = find(
        &spans,
        "the delivery's span",
        SpanKind::Client,
        "email deliver",
    );
    assert_eq!(
        server.parent_span_id.to_string(),
        client_span,
        "the server continues the client"
    );
    assert_eq!(
        publish.parent_span_id,
        server.span_context.span_id(),
        "the relay continues the request"
    );
    assert_eq!(
        process.parent_span_id,
        publish.span_context.span_id(),
        "the consumer continues the publish"
    );
    assert_eq!(
        deliver.parent_span_id,
        process.span_context.span_id(),
        "the mail continues the event"
    );
    let sent: Vec<String> = std::fs::read_dir(&mail)
        .expect("the mail directory")
        .filter_map(Result::ok)
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect();
    // The manager also hears of the rights the project gave them; one mail
    // is about the input.
    let about_input: Vec<&String> = sent
        .iter()
        .filter(|mail| mail.contains("Subject: Input to screen in Canal Park"))
        .collect();
    assert_eq!(about_input.len(), 1, "the manager's mail: {sent:#?}");
    assert!(
        about_input[0].contains("\"More trees\""),
        "{}",
        about_input[0]
    );
    notifications_server.stop().await;
    contributions_server.stop().await;
    let _ = std::fs::remove_dir_all(&mail);
}
