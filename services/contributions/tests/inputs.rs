//! Inputs through the real gRPC server, on PostgreSQL and on SQLite, with the
//! projection of projects fed real `ProjectChanged` envelopes on the broker.

mod support;

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::Duration;
use inspraak_bus::decode_payload;
use inspraak_contributions::counters;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use sea_orm::EntityTrait;
use support::{Backend, Platform, Who, ideation, information, phase, project};
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;

// --- helpers ---------------------------------------------------------------

/// The status of a call that must fail with `code`.
fn refused<T: std::fmt::Debug>(outcome: Result<T, Status>, code: Code, what: &str) -> Status {
    match outcome {
        Ok(value) => panic!("{what}: expected {code:?}, but it succeeded with {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{what}: {status:?}");
            status
        }
    }
}

/// A FAILED_PRECONDITION whose message says `why`.
fn precondition<T: std::fmt::Debug>(outcome: Result<T, Status>, why: &str) {
    let status = refused(outcome, Code::FailedPrecondition, why);
    assert!(
        status.message().contains(why),
        "expected {why:?} in {:?}",
        status.message()
    );
}

/// The fields a refusal names, sorted.
fn fields(status: &Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .expect("an INVALID_ARGUMENT names its fields")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    fields
}

fn request(project: &projects::Project, phase: usize, title: &str) -> proto::CreateInputRequest {
    proto::CreateInputRequest {
        project_id: project.id.clone(),
        phase_id: project.phases[phase].id.clone(),
        title: title.to_owned(),
        body: "Meer bomen langs de vaart".to_owned(),
        topics: vec!["groen".to_owned()],
        location: Some(proto::Location {
            latitude: 51.05,
            longitude: 3.72,
        }),
        anonymous: false,
        request_id: String::new(),
    }
}

async fn create(
    platform: &Platform,
    request: proto::CreateInputRequest,
    who: Option<&Who>,
) -> Result<proto::Input, Status> {
    platform
        .client()
        .create_input(platform.by(request, who))
        .await
        .map(Response::into_inner)
}

async fn get(platform: &Platform, id: &str, who: Option<&Who>) -> Result<proto::Input, Status> {
    platform
        .client()
        .get_input(platform.by(proto::GetInputRequest { id: id.to_owned() }, who))
        .await
        .map(Response::into_inner)
}

/// Every input id `who` gets for the project, page by page, in order.
async fn list_ids(
    platform: &Platform,
    project_id: &str,
    page_size: i32,
    who: Option<&Who>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    for _ in 0..100 {
        let page = platform
            .client()
            .list_inputs(platform.by(
                proto::ListInputsRequest {
                    project_id: project_id.to_owned(),
                    page_size,
                    page_token: token.clone(),
                    ..Default::default()
                },
                who,
            ))
            .await
            .expect("list inputs")
            .into_inner();
        assert!(page.inputs.len() <= usize::try_from(page_size).unwrap_or(0));
        ids.extend(page.inputs.into_iter().map(|i| i.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

async fn counted(platform: &Platform, project_id: &str, phase_id: &str) -> (i64, i64) {
    let db = &platform.server.running.context.db;
    let project = uuid::Uuid::parse_str(project_id).expect("an id");
    let phase = uuid::Uuid::parse_str(phase_id).expect("an id");
    let count = |phase| async move {
        counters::totals(db, project, phase)
            .await
            .expect("read statistics")
            .map_or(0, |s| s.input_count)
    };
    (count(uuid::Uuid::nil()).await, count(phase).await)
}

// --- scenarios -------------------------------------------------------------

/// Input is refused before the phase opens, accepted inside its window and
/// refused after it, as projects' events say; an older project version
/// arriving late changes nothing.
async fn input_follows_the_phase_window(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let resident = platform.resident();
    let now = platform.now();
    let mut plan = project(
        &manager,
        vec![phase(
            now + Duration::days(1),
            Some(now + Duration::days(3)),
            ideation(),
            Permission::Registered,
        )],
    );
    plan.state = projects::ProjectState::Draft as i32;
    platform
        .project_changed("projects.project.created.v1", &plan, 1)
        .await;
    precondition(
        create(&platform, request(&plan, 0, "Een idee"), Some(&resident)).await,
        "not published",
    );
    // A draft is hidden from residents' reads.
    refused(
        platform
            .client()
            .list_inputs(platform.by(
                proto::ListInputsRequest {
                    project_id: plan.id.clone(),
                    ..Default::default()
                },
                Some(&resident),
            ))
            .await,
        Code::NotFound,
        "listing a draft",
    );

    plan.state = projects::ProjectState::Published as i32;
    platform
        .project_changed("projects.project.published.v1", &plan, 2)
        .await;
    precondition(
        create(&platform, request(&plan, 0, "Een idee"), Some(&resident)).await,
        "has not started",
    );
    refused(
        create(&platform, request(&plan, 0, "Een idee"), None).await,
        Code::Unauthenticated,
        "signed out",
    );

    platform.advance(Duration::days(2));
    let input = create(&platform, request(&plan, 0, "Een idee"), Some(&resident))
        .await
        .expect("accepted in the window");
    assert_eq!(input.status, proto::InputStatus::Proposed as i32);
    assert_eq!(input.author_id, resident.id);

    // The draft of version 1, redelivered late, does not undo the
    // publication.
    let mut stale = plan.clone();
    stale.state = projects::ProjectState::Draft as i32;
    let event = platform
        .publish(
            "projects.project.changed.v1",
            &plan.id,
            1,
            &events::ProjectChanged {
                project: Some(stale),
            },
        )
        .await;
    platform.wait_handled(&event).await;
    create(
        &platform,
        request(&plan, 0, "Nog een idee"),
        Some(&resident),
    )
    .await
    .expect("still published");

    platform.advance(Duration::days(2));
    precondition(
        create(&platform, request(&plan, 0, "Te laat"), Some(&resident)).await,
        "has ended",
    );

    // projects moves the phase's end: the projection follows.
    plan.phases[0].ends_at = Some(support::ts(platform.now() + Duration::days(1)));
    platform
        .project_changed("projects.phase.changed.v1", &plan, 3)
        .await;
    create(
        &platform,
        request(&plan, 0, "Toch op tijd"),
        Some(&resident),
    )
    .await
    .expect("accepted once the phase is extended");
    assert_eq!(
        counted(&platform, &plan.id, &plan.phases[0].id).await,
        (3, 3)
    );
}

/// Each refusal names the condition that failed.
async fn refusals_name_the_failed_condition(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let resident = platform.resident();
    let mut unconfirmed = platform.resident();
    unconfirmed.email_verified = false;
    let now = platform.now();
    let open = |method, post| phase(now - Duration::days(1), None, method, post);
    let plan = project(
        &manager,
        vec![
            open(information(), Permission::Everyone),
            open(ideation(), Permission::ConfirmedEmail),
            open(ideation(), Permission::Verified),
            open(ideation(), Permission::AdminsAndManagers),
        ],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;

    precondition(
        create(&platform, request(&plan, 0, "Een idee"), Some(&resident)).await,
        "does not take input",
    );
    precondition(
        create(&platform, request(&plan, 1, "Een idee"), Some(&unconfirmed)).await,
        "confirmed e-mail",
    );
    create(&platform, request(&plan, 1, "Een idee"), Some(&resident))
        .await
        .expect("a confirmed address may post");
    precondition(
        create(&platform, request(&plan, 2, "Een idee"), Some(&resident)).await,
        "verified identity",
    );
    precondition(
        create(&platform, request(&plan, 3, "Een idee"), Some(&resident)).await,
        "admins and the project's managers",
    );
    create(
        &platform,
        request(&plan, 3, "Van de manager"),
        Some(&manager),
    )
    .await
    .expect("the manager posts");
    create(
        &platform,
        request(&plan, 3, "Van de admin"),
        Some(&platform.admin()),
    )
    .await
    .expect("an admin posts");

    // The team changes in projects: the projection follows.
    let successor = platform.resident();
    let mut plan = plan;
    plan.team = Some(projects::Team {
        manager_ids: vec![successor.id.clone()],
        communication_contact_id: String::new(),
    });
    platform
        .project_changed("projects.team.changed.v1", &plan, 2)
        .await;
    precondition(
        create(&platform, request(&plan, 3, "Niet meer"), Some(&manager)).await,
        "admins and the project's managers",
    );
    create(
        &platform,
        request(&plan, 3, "Van de opvolger"),
        Some(&successor),
    )
    .await
    .expect("the new manager posts");

    let mut elsewhere = request(&plan, 1, "Een idee");
    elsewhere.phase_id = uuid::Uuid::now_v7().to_string();
    precondition(
        create(&platform, elsewhere, Some(&resident)).await,
        "not part of this project",
    );
    let mut unknown = request(&plan, 1, "Een idee");
    unknown.project_id = uuid::Uuid::now_v7().to_string();
    precondition(
        create(&platform, unknown, Some(&resident)).await,
        "not known",
    );
}

/// Validation names every bad field at once.
async fn validation_names_each_bad_field(backend: Backend) {
    let platform = Platform::start(backend).await;
    let resident = platform.resident();
    let plan = project(
        &platform.resident(),
        vec![phase(
            platform.now(),
            None,
            ideation(),
            Permission::Everyone,
        )],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    let bad = proto::CreateInputRequest {
        project_id: "not-an-id".to_owned(),
        phase_id: plan.phases[0].id.clone(),
        title: "ab".to_owned(),
        body: " ".to_owned(),
        topics: (0..11).map(|i| format!("t{i}")).collect(),
        location: Some(proto::Location {
            latitude: 90.5,
            longitude: -181.0,
        }),
        anonymous: false,
        request_id: String::new(),
    };
    let status = refused(
        create(&platform, bad, Some(&resident)).await,
        Code::InvalidArgument,
        "bad input",
    );
    assert_eq!(
        fields(&status),
        [
            "body",
            "location.latitude",
            "location.longitude",
            "project_id",
            "title",
            "topics"
        ]
    );
    let mut long = request(&plan, 0, &"x".repeat(201));
    long.body = "y".repeat(20_001);
    long.topics = vec![String::new()];
    let status = refused(
        create(&platform, long, Some(&resident)).await,
        Code::InvalidArgument,
        "too long",
    );
    assert_eq!(fields(&status), ["body", "title", "topics[0]"]);
}

/// Retries return the first input; anonymous inputs hide their author from
/// everyone but the author and admins; the deadline follows the charter;
/// the event is published.
async fn retries_anonymity_deadline_and_event(backend: Backend) {
    let platform = Platform::start(backend).await;
    let author = platform.resident();
    let other = platform.resident();
    let plan = project(
        &platform.resident(),
        vec![phase(
            platform.now(),
            None,
            ideation(),
            Permission::Everyone,
        )],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;

    let mut first = request(&plan, 0, "Anoniem idee");
    first.anonymous = true;
    first.request_id = "try-1".to_owned();
    let input = create(&platform, first.clone(), Some(&author))
        .await
        .expect("created");
    let again = create(&platform, first.clone(), Some(&author))
        .await
        .expect("the retry");
    assert_eq!(again.id, input.id, "a retry returns the same input");
    let by_other = create(&platform, first, Some(&other))
        .await
        .expect("another person's key is another request");
    assert_ne!(by_other.id, input.id);
    assert_eq!(
        counted(&platform, &plan.id, &plan.phases[0].id).await,
        (2, 2)
    );

    // The same request sent many times at once still makes one input.
    let mut burst = request(&plan, 0, "Tegelijk");
    burst.request_id = "burst".to_owned();
    let sent = (0..10).map(|_| create(&platform, burst.clone(), Some(&author)));
    let answers = futures_util::future::join_all(sent).await;
    let ids: BTreeSet<String> = answers
        .into_iter()
        .map(|a| a.expect("every retry answers").id)
        .collect();
    assert_eq!(ids.len(), 1, "one input for one request: {ids:?}");
    assert_eq!(
        counted(&platform, &plan.id, &plan.phases[0].id).await,
        (3, 3)
    );

    assert_eq!(input.author_id, author.id, "the author sees themselves");
    let admin = platform.admin();
    let seen = |who| get(&platform, &input.id, who);
    assert_eq!(seen(Some(&author)).await.expect("get").author_id, author.id);
    assert_eq!(seen(Some(&admin)).await.expect("get").author_id, author.id);
    assert_eq!(seen(Some(&other)).await.expect("get").author_id, "");
    assert_eq!(seen(None).await.expect("get").author_id, "");
    let listed = platform
        .client()
        .list_inputs(platform.by(
            proto::ListInputsRequest {
                project_id: plan.id.clone(),
                ..Default::default()
            },
            Some(&other),
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed
            .inputs
            .iter()
            .filter(|i| i.anonymous)
            .all(|i| i.author_id.is_empty() || i.author_id == other.id)
    );

    let seconds = |t: Option<prost_types::Timestamp>| t.map_or(0, |t| t.seconds);
    assert_eq!(
        seconds(input.answer_deadline) - seconds(input.created_at),
        14 * 86_400,
        "the default answer target"
    );
    platform.settings_changed(30, 2).await;
    // Older settings arriving late do not replace the charter.
    let stale = platform
        .publish(
            "projects.settings.changed.v1",
            "settings",
            1,
            &events::SettingsChanged {
                settings: Some(projects::PlatformSettings {
                    charter: Some(projects::GovernanceCharter {
                        answer_target_days: 7,
                        ..Default::default()
                    }),
                    version: 1,
                    ..Default::default()
                }),
            },
        )
        .await;
    platform.wait_handled(&stale).await;
    let later = create(&platform, request(&plan, 0, "Later idee"), Some(&author))
        .await
        .expect("created");
    assert_eq!(
        seconds(later.answer_deadline) - seconds(later.created_at),
        30 * 86_400,
        "the charter's answer target"
    );

    let published = platform
        .shared
        .wait_for_events(
            "contributions.input.created.v1",
            4,
            StdDuration::from_secs(10),
        )
        .await;
    assert_eq!(published.len(), 4, "{published:#?}");
    let created: events::InputCreated = decode_payload(&published[0]).expect("an InputCreated");
    assert_eq!(created.input_id, input.id);
    assert_eq!(created.project_id, plan.id);
    assert_eq!(created.phase_id, plan.phases[0].id);
    assert_eq!(created.author_id, author.id);
    assert!(created.anonymous);
}

/// Pages hold each input once, newest first; the author alone edits, with
/// the etag; a deleted input leaves the reads; a staff-only project is
/// NOT_FOUND to residents.
async fn lists_edits_and_deletes(backend: Backend) {
    let platform = Platform::start(backend).await;
    let author = platform.resident();
    let other = platform.resident();
    let manager = platform.resident();
    let mut plan = project(
        &manager,
        vec![phase(
            platform.now(),
            None,
            ideation(),
            Permission::Everyone,
        )],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    let mut created = Vec::new();
    for i in 0..7 {
        let input = create(
            &platform,
            request(&plan, 0, &format!("Idee {i}")),
            Some(&author),
        )
        .await
        .expect("created");
        created.push(input.id);
    }
    let listed = list_ids(&platform, &plan.id, 3, None).await;
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first, "each input once, newest first");
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), 7);

    let target = created[0].clone();
    let current = get(&platform, &target, None).await.expect("get");
    let edit = |etag: &str| proto::UpdateInputRequest {
        id: target.clone(),
        title: "Een beter idee".to_owned(),
        body: String::new(),
        topics: vec!["Bomen".to_owned()],
        update_mask: vec!["title".to_owned(), "topics".to_owned()],
        etag: etag.to_owned(),
    };
    let update = |request, who| {
        let platform = &platform;
        async move {
            platform
                .client()
                .update_input(platform.by(request, Some(who)))
                .await
                .map(Response::into_inner)
        }
    };
    refused(
        update(edit(&current.etag), &other).await,
        Code::PermissionDenied,
        "someone else edits",
    );
    let edited = update(edit(&current.etag), &author).await.expect("edited");
    assert_eq!(edited.title, "Een beter idee");
    assert_eq!(edited.topics, ["bomen"]);
    assert_eq!(edited.body, current.body, "outside the mask: unchanged");
    assert_ne!(edited.etag, current.etag);
    refused(
        update(edit(&current.etag), &author).await,
        Code::Aborted,
        "a stale etag",
    );
    let mut bad = edit(&edited.etag);
    bad.update_mask.push("status".to_owned());
    refused(
        update(bad, &author).await,
        Code::InvalidArgument,
        "an unknown path",
    );

    let delete = |who| {
        let platform = &platform;
        let id = target.clone();
        async move {
            platform
                .client()
                .delete_input(platform.by(proto::DeleteInputRequest { id }, Some(who)))
                .await
                .map(Response::into_inner)
        }
    };
    refused(
        delete(&other).await,
        Code::PermissionDenied,
        "someone else deletes",
    );
    delete(&author).await.expect("deleted");
    refused(
        get(&platform, &target, None).await,
        Code::NotFound,
        "a deleted input",
    );
    let listed = list_ids(&platform, &plan.id, 100, None).await;
    assert_eq!(listed.len(), 6);
    assert!(!listed.contains(&target));
    assert_eq!(
        counted(&platform, &plan.id, &plan.phases[0].id).await,
        (6, 6)
    );

    plan.visibility = projects::Visibility::Staff as i32;
    platform
        .project_changed("projects.project.changed.v1", &plan, 2)
        .await;
    refused(
        get(&platform, &created[1], Some(&author)).await,
        Code::NotFound,
        "a staff-only project's input",
    );
    get(&platform, &created[1], Some(&manager))
        .await
        .expect("the project's manager reads it");
    assert_eq!(
        list_ids(&platform, &plan.id, 100, Some(&manager))
            .await
            .len(),
        6
    );
}

/// Events published while contributions was stopped are applied once it is
/// back: it catches up from its queue.
async fn the_projection_catches_up_after_a_stop(backend: Backend) {
    let platform = Platform::start(backend).await;
    let resident = platform.resident();
    let now = platform.now();
    let mut plan = project(
        &platform.resident(),
        vec![phase(
            now - Duration::days(1),
            None,
            ideation(),
            Permission::Everyone,
        )],
    );
    plan.state = projects::ProjectState::Draft as i32;
    platform
        .project_changed("projects.project.created.v1", &plan, 1)
        .await;
    precondition(
        create(&platform, request(&plan, 0, "Te vroeg"), Some(&resident)).await,
        "not published",
    );
    plan.state = projects::ProjectState::Published as i32;
    let published = plan.clone();
    let platform = platform
        .restart(|shared| async move {
            support::publish(
                &shared,
                "projects.project.published.v1",
                &published.id,
                2,
                &events::ProjectChanged {
                    project: Some(published.clone()),
                },
            )
            .await;
        })
        .await;
    let project_id = uuid::Uuid::parse_str(&plan.id).expect("an id");
    platform
        .wait_until(|| async {
            inspraak_contributions::store::entities::projected_projects::Entity::find_by_id(
                project_id,
            )
            .one(&platform.server.running.context.db)
            .await
            .expect("read the projection")
            .is_some_and(|p| p.version == 2)
        })
        .await;
    create(
        &platform,
        request(&plan, 0, "Na de herstart"),
        Some(&resident),
    )
    .await
    .expect("accepted once the missed publication is applied");
}

inspraak_host::on_both_databases!(
    the_projection_catches_up_after_a_stop,
    input_follows_the_phase_window,
    refusals_name_the_failed_condition,
    validation_names_each_bad_field,
    retries_anonymity_deadline_and_event,
    lists_edits_and_deletes,
);
