//! Every RPC of `inspraak.projects.v1.Projects`: its normal path and each
//! status it answers with when refused, on PostgreSQL and on SQLite, through
//! the real gRPC server.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use inspraak_bus::{NewEvent, decode_payload};
use inspraak_projects::collected::InputCollected;
use inspraak_projects::store::entities::{phases, projects};
use inspraak_projects::{ProjectsService, ProjectsSettings, scheduler};
use inspraak_proto::events::v1 as events;
use inspraak_proto::events::v1::Envelope;
use inspraak_proto::projects::v1 as proto;
use prost::Message;
use sea_orm::EntityTrait;
use support::{Backend, Platform, Who, authed, everyone_registered, ideation, nl, ts};
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;

// --- helpers ---------------------------------------------------------------

/// `message` as `who` sends it; anonymous when `who` is `None`.
fn by<T>(message: T, who: Option<&Who>) -> Request<T> {
    match who {
        Some(who) => authed(message, &who.token),
        None => Request::new(message),
    }
}

/// The status of a call that must fail with `code`.
fn refused<T: std::fmt::Debug>(
    outcome: Result<Response<T>, Status>,
    code: Code,
    what: &str,
) -> Status {
    match outcome {
        Ok(response) => panic!(
            "{what}: expected {code:?}, but it succeeded with {:?}",
            response.into_inner()
        ),
        Err(status) => {
            assert_eq!(status.code(), code, "{what}: {status:?}");
            status
        }
    }
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

fn text(localized: Option<&proto::LocalizedText>) -> &str {
    localized
        .and_then(|t| t.text.get("nl"))
        .map_or("", String::as_str)
}

fn method(kind: proto::participation_method::Method) -> proto::ParticipationMethod {
    proto::ParticipationMethod { method: Some(kind) }
}

fn poll() -> proto::ParticipationMethod {
    method(proto::participation_method::Method::Poll(proto::Poll {}))
}

fn information() -> proto::ParticipationMethod {
    method(proto::participation_method::Method::Information(
        proto::Information {},
    ))
}

fn single_vote() -> proto::ParticipationMethod {
    method(proto::participation_method::Method::Voting(proto::Voting {
        kind: Some(proto::voting::Kind::Single(proto::SingleVote {})),
    }))
}

fn phase(
    title: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    method: proto::ParticipationMethod,
) -> proto::Phase {
    proto::Phase {
        id: String::new(),
        title: Some(nl(title)),
        description: None,
        starts_at: Some(ts(from)),
        ends_at: to.map(ts),
        method: Some(method),
        permissions: Some(everyone_registered()),
    }
}

/// The events of `event_type`: waits for `count`, then checks no more come.
async fn exactly(platform: &Platform, event_type: &str, count: usize) -> Vec<Envelope> {
    platform
        .shared
        .wait_for_events(event_type, count, StdDuration::from_secs(10))
        .await;
    let found = platform
        .shared
        .wait_for_events(event_type, count + 1, StdDuration::from_millis(300))
        .await;
    assert_eq!(found.len(), count, "{event_type} events: {found:#?}");
    found
}

fn changed_project(envelope: &Envelope) -> proto::Project {
    decode_payload::<events::ProjectChanged>(envelope)
        .expect("a ProjectChanged payload")
        .project
        .expect("the project")
}

async fn get_project(
    platform: &Platform,
    id: &str,
    who: Option<&Who>,
) -> Result<proto::Project, Status> {
    platform
        .client()
        .get_project(by(proto::GetProjectRequest { id: id.to_owned() }, who))
        .await
        .map(Response::into_inner)
}

async fn publish(platform: &Platform, admin: &Who, id: &str) -> proto::Project {
    platform
        .client()
        .publish_project(authed(
            proto::PublishProjectRequest { id: id.to_owned() },
            &admin.token,
        ))
        .await
        .expect("the admin publishes the project")
        .into_inner()
}

fn mask(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

async fn update_project(
    platform: &Platform,
    request: proto::UpdateProjectRequest,
    who: Option<&Who>,
) -> Result<proto::Project, Status> {
    platform
        .client()
        .update_project(by(request, who))
        .await
        .map(Response::into_inner)
}

/// Every project id `who` gets for `request`, page by page; each id once.
async fn list_project_ids(
    platform: &Platform,
    request: proto::ListProjectsRequest,
    who: Option<&Who>,
) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let page = platform
            .client()
            .list_projects(by(
                proto::ListProjectsRequest {
                    page_token: token.clone(),
                    ..request.clone()
                },
                who,
            ))
            .await
            .expect("list projects")
            .into_inner();
        pages += 1;
        assert!(pages < 100, "pagination does not end");
        ids.extend(page.projects.into_iter().map(|p| p.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a project came twice: {ids:?}");
    (ids, pages)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn ids_of(projects: &[&proto::Project]) -> Vec<String> {
    sorted(projects.iter().map(|p| p.id.clone()).collect())
}

/// `who` signed in again at the clock's now: tokens live ten minutes.
fn signed_in_again(platform: &Platform, who: &Who, roles: &[&str], departments: &[&str]) -> Who {
    let mut claims = platform.shared.keys.claims(
        inspraak_kit::auth::PrincipalKind::Person,
        &who.id,
        roles,
        platform.now(),
    );
    claims.departments = departments.iter().map(|d| (*d).to_owned()).collect();
    Who {
        id: who.id.clone(),
        token: platform.shared.keys.sign(&claims),
    }
}

/// contributions reports input in `phase_id` of `project_id`, as it does on
/// the bus, and this waits until projects' consumer has applied it.
async fn report_input(platform: &Platform, project_id: &str, phase_id: &str) {
    let context = &platform.server.running.context;
    // The consumer's queue, declared as the service declares it, so that the
    // event cannot reach the broker before the queue exists.
    context
        .bus
        .consumer(
            context.db.clone(),
            "collected",
            &["contributions.input.created.v1"],
            InputCollected,
        )
        .declare()
        .await
        .expect("projects' collected queue");
    let input_id = uuid::Uuid::now_v7().to_string();
    let event = NewEvent::new(
        "contributions.input.created.v1"
            .parse()
            .expect("an event type"),
        "input",
        input_id.clone(),
        1,
        platform.now(),
        &events::InputCreated {
            input_id,
            project_id: project_id.to_owned(),
            phase_id: phase_id.to_owned(),
            ..Default::default()
        },
    );
    let envelope = Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event.event_type.to_string(),
        occurred_at: Some(ts(event.occurred_at)),
        producer: "contributions".to_owned(),
        aggregate_type: event.aggregate_type,
        aggregate_id: event.aggregate_id,
        aggregate_version: event.aggregate_version,
        traceparent: String::new(),
        tracestate: String::new(),
        payload: Some(event.payload),
    };
    platform.shared.publish(&envelope).await;
    let project = uuid::Uuid::parse_str(project_id).expect("a project id");
    let phase = uuid::Uuid::parse_str(phase_id).expect("a phase id");
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        let project_has = projects::Entity::find_by_id(project)
            .one(&context.db)
            .await
            .expect("read the project")
            .expect("the project exists")
            .has_input;
        let phase_has = phases::Entity::find_by_id(phase)
            .one(&context.db)
            .await
            .expect("read the phase")
            .expect("the phase exists")
            .has_input;
        if project_has && phase_has {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer never applied the reported input"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

// --- settings --------------------------------------------------------------

async fn settings_are_read_publicly_and_replaced_by_admins(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let resident = platform.resident();
    let mut client = platform.client();

    let public = client
        .get_public_settings(Request::new(proto::GetPublicSettingsRequest {}))
        .await
        .expect("anyone reads the public settings")
        .into_inner();
    assert_eq!(text(public.name.as_ref()), "Inspraak");
    assert_eq!(public.locales, ["nl", "fr", "en"]);
    assert_eq!(public.time_zone, "Europe/Brussels");
    assert_eq!(
        public
            .branding
            .as_ref()
            .expect("branding")
            .primary_color
            .as_str(),
        "#1f4e79"
    );

    refused(
        client
            .get_platform_settings(Request::new(proto::GetPlatformSettingsRequest {}))
            .await,
        Code::Unauthenticated,
        "anonymous read of the platform settings",
    );
    refused(
        client
            .get_platform_settings(authed(
                proto::GetPlatformSettingsRequest {},
                &resident.token,
            ))
            .await,
        Code::PermissionDenied,
        "a resident reads the platform settings",
    );
    let current = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .expect("an admin reads the platform settings")
        .into_inner();
    assert_eq!(current.version, 0);
    assert_eq!(current.max_active_projects, 5);
    assert!(!current.etag.is_empty(), "the settings carry an etag");
    let charter = current.charter.clone().expect("the charter");
    assert_eq!(charter.report_cadence(), proto::ReportCadence::Weekly);
    assert_eq!(charter.answer_target_days, 14);

    // The admin replaces them with the etag read.
    let mut wanted = current.clone();
    wanted.name = Some(nl("Inspraak Gent"));
    wanted.max_active_projects = 7;
    let wanted_charter = wanted.charter.as_mut().expect("the charter");
    wanted_charter.selection = Some(nl("Het kernteam kiest de projecten"));
    wanted_charter.report_cadence = proto::ReportCadence::Monthly as i32;
    wanted_charter.report_day = 15;
    let updated = client
        .update_platform_settings(authed(
            proto::UpdatePlatformSettingsRequest {
                settings: Some(wanted.clone()),
                etag: current.etag.clone(),
            },
            &admin.token,
        ))
        .await
        .expect("an admin replaces the settings with a fresh etag")
        .into_inner();
    assert_eq!(updated.version, 1);
    assert_ne!(updated.etag, current.etag, "a new version, a new etag");
    assert_eq!(text(updated.name.as_ref()), "Inspraak Gent");
    assert_eq!(updated.max_active_projects, 7);
    let charter = updated.charter.clone().expect("the charter");
    assert_eq!(
        text(charter.selection.as_ref()),
        "Het kernteam kiest de projecten"
    );
    assert_eq!(charter.report_cadence(), proto::ReportCadence::Monthly);
    assert_eq!(charter.report_day, 15);
    assert_eq!(
        updated.updated_at.expect("updated_at").seconds,
        platform.now().timestamp()
    );
    let read = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .expect("an admin reads the settings again")
        .into_inner();
    // (Whether updated_at survives to the read exactly is
    // writes_answer_with_what_reads_return's concern.)
    assert_eq!(
        proto::PlatformSettings {
            updated_at: None,
            ..read.clone()
        },
        proto::PlatformSettings {
            updated_at: None,
            ..updated.clone()
        },
        "a read returns what was written"
    );

    // Residents see the new name, but neither the charter nor the cap: on
    // the wire, PublicSettings carries nothing at PlatformSettings' numbers
    // for the cap (5), the charter (6), the version (7) and the etag (8).
    let public = client
        .get_public_settings(Request::new(proto::GetPublicSettingsRequest {}))
        .await
        .expect("anyone reads the public settings")
        .into_inner();
    assert_eq!(text(public.name.as_ref()), "Inspraak Gent");
    let as_full = proto::PlatformSettings::decode(public.encode_to_vec().as_slice())
        .expect("the public settings decode");
    assert_eq!(as_full.max_active_projects, 0, "the cap is not public");
    assert!(as_full.charter.is_none(), "the charter is not public");
    assert!(as_full.etag.is_empty() && as_full.version == 0);

    // The etag read before the change is stale now.
    refused(
        client
            .update_platform_settings(authed(
                proto::UpdatePlatformSettingsRequest {
                    settings: Some(wanted.clone()),
                    etag: current.etag.clone(),
                },
                &admin.token,
            ))
            .await,
        Code::Aborted,
        "a stale etag",
    );
    let missing = refused(
        client
            .update_platform_settings(authed(
                proto::UpdatePlatformSettingsRequest {
                    settings: None,
                    etag: updated.etag.clone(),
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "no settings",
    );
    assert_eq!(fields(&missing), ["settings"]);
    refused(
        client
            .update_platform_settings(authed(
                proto::UpdatePlatformSettingsRequest {
                    settings: Some(wanted.clone()),
                    etag: updated.etag.clone(),
                },
                &resident.token,
            ))
            .await,
        Code::PermissionDenied,
        "a resident replaces the settings",
    );
    refused(
        client
            .update_platform_settings(Request::new(proto::UpdatePlatformSettingsRequest {
                settings: Some(wanted.clone()),
                etag: updated.etag.clone(),
            }))
            .await,
        Code::Unauthenticated,
        "anonymous replaces the settings",
    );
    let after = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .expect("an admin reads the settings")
        .into_inner();
    assert_eq!(after, read, "refused updates changed nothing");

    let changed = exactly(&platform, "projects.settings.changed.v1", 1).await;
    let settings = decode_payload::<events::SettingsChanged>(&changed[0])
        .expect("a SettingsChanged payload")
        .settings
        .expect("the settings");
    assert_eq!(settings.version, 1);
    assert_eq!(settings.etag, updated.etag);
    assert_eq!(settings.max_active_projects, 7);
}

// --- proposals -------------------------------------------------------------

fn proposal(
    platform: &Platform,
    department: &str,
    request_id: &str,
) -> proto::SubmitProposalRequest {
    let now = platform.now();
    proto::SubmitProposalRequest {
        title: Some(nl("Speelplein")),
        goal: Some(nl("Een plek om te spelen")),
        department_id: department.to_owned(),
        intended_phases: vec![
            proto::IntendedPhase {
                title: Some(nl("Ideeën")),
                method: Some(ideation()),
                starts_at: Some(ts(now + Duration::days(10))),
                ends_at: Some(ts(now + Duration::days(20))),
            },
            proto::IntendedPhase {
                title: Some(nl("Stemmen")),
                method: Some(single_vote()),
                starts_at: Some(ts(now + Duration::days(20))),
                ends_at: Some(ts(now + Duration::days(30))),
            },
        ],
        communication_plan: Some(nl("Flyers in de wijk")),
        request_id: request_id.to_owned(),
    }
}

async fn submit(
    platform: &Platform,
    who: &Who,
    request: proto::SubmitProposalRequest,
) -> proto::Proposal {
    platform
        .client()
        .submit_proposal(authed(request, &who.token))
        .await
        .expect("the proposal is submitted")
        .into_inner()
}

async fn review(
    platform: &Platform,
    admin: &Who,
    id: &str,
    decision: proto::ReviewDecision,
    reason: &str,
) -> Result<proto::ReviewProposalResponse, Status> {
    platform
        .client()
        .review_proposal(authed(
            proto::ReviewProposalRequest {
                id: id.to_owned(),
                decision: decision as i32,
                reason: reason.to_owned(),
                etag: String::new(),
            },
            &admin.token,
        ))
        .await
        .map(Response::into_inner)
}

async fn list_proposals(
    platform: &Platform,
    who: &Who,
    state: proto::ProposalState,
    page_size: i32,
) -> (Vec<proto::Proposal>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let page = platform
            .client()
            .list_proposals(authed(
                proto::ListProposalsRequest {
                    state: state as i32,
                    page_size,
                    page_token: token.clone(),
                },
                &who.token,
            ))
            .await
            .expect("list proposals")
            .into_inner();
        pages += 1;
        assert!(pages < 100, "pagination does not end");
        all.extend(page.proposals);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let unique: BTreeSet<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(unique.len(), all.len(), "a proposal came twice");
    (all, pages)
}

async fn department_staff_propose_projects(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let staff = platform.person(&[], &["public-space"]);
    let colleague = platform.person(&[], &["public-space"]);
    let mobility = platform.person(&[], &["mobility"]);
    let resident = platform.resident();
    let mut client = platform.client();

    let submitted = submit(
        &platform,
        &staff,
        proposal(&platform, "public-space", "speelplein-1"),
    )
    .await;
    assert_eq!(submitted.state(), proto::ProposalState::Submitted);
    assert_eq!(submitted.proposer_id, staff.id);
    assert_eq!(submitted.department_id, "public-space");
    assert_eq!(text(submitted.title.as_ref()), "Speelplein");
    assert_eq!(text(submitted.goal.as_ref()), "Een plek om te spelen");
    assert_eq!(
        text(submitted.communication_plan.as_ref()),
        "Flyers in de wijk"
    );
    assert_eq!(submitted.intended_phases.len(), 2);
    assert_eq!(submitted.intended_phases[1].method, Some(single_vote()));
    assert!(submitted.project_id.is_empty() && submitted.decided_by.is_empty());

    // A retry with the same request id is the same proposal, not a second.
    let retried = submit(
        &platform,
        &staff,
        proposal(&platform, "public-space", "speelplein-1"),
    )
    .await;
    assert_eq!(retried.id, submitted.id);
    assert_eq!(retried.etag, submitted.etag);
    let (all, _) = list_proposals(&platform, &admin, proto::ProposalState::Unspecified, 0).await;
    assert_eq!(all.len(), 1, "the retry made no second proposal");

    refused(
        client
            .submit_proposal(authed(
                proposal(&platform, "public-space", ""),
                &resident.token,
            ))
            .await,
        Code::PermissionDenied,
        "a resident without a department proposes",
    );
    refused(
        client
            .submit_proposal(authed(
                proposal(&platform, "public-space", ""),
                &mobility.token,
            ))
            .await,
        Code::PermissionDenied,
        "staff of mobility propose for public space",
    );
    refused(
        client
            .submit_proposal(Request::new(proposal(&platform, "public-space", "")))
            .await,
        Code::Unauthenticated,
        "an anonymous proposal",
    );
    let mut untitled = proposal(&platform, "public-space", "");
    untitled.title = None;
    let status = refused(
        client.submit_proposal(authed(untitled, &staff.token)).await,
        Code::InvalidArgument,
        "a proposal without a title",
    );
    assert_eq!(fields(&status), ["title"]);
    let mut no_department = proposal(&platform, "", "");
    no_department.goal = None;
    let status = refused(
        client
            .submit_proposal(authed(no_department, &staff.token))
            .await,
        Code::InvalidArgument,
        "a proposal without a department and a goal",
    );
    assert_eq!(fields(&status), ["department_id", "goal"]);

    // Admins propose for any department.
    let by_admin = submit(&platform, &admin, proposal(&platform, "mobility", "")).await;
    assert_eq!(by_admin.proposer_id, admin.id);

    // GetProposal: the proposer and admins.
    let get = |who: Option<&Who>, id: &str| {
        let mut client = platform.client();
        let request = by(proto::GetProposalRequest { id: id.to_owned() }, who);
        async move { client.get_proposal(request).await }
    };
    let mine = get(Some(&staff), &submitted.id)
        .await
        .expect("the proposer reads their proposal")
        .into_inner();
    assert_eq!(mine, retried, "the proposal as stored");
    get(Some(&admin), &submitted.id)
        .await
        .expect("an admin reads any proposal");
    refused(
        get(Some(&colleague), &submitted.id).await,
        Code::PermissionDenied,
        "a colleague reads someone else's proposal",
    );
    refused(
        get(Some(&resident), &submitted.id).await,
        Code::PermissionDenied,
        "a resident reads a proposal",
    );
    refused(
        get(None, &submitted.id).await,
        Code::Unauthenticated,
        "anonymous reads a proposal",
    );
    refused(
        get(Some(&admin), &uuid::Uuid::now_v7().to_string()).await,
        Code::NotFound,
        "an unknown proposal",
    );
    let status = refused(
        get(Some(&admin), "not-an-id").await,
        Code::InvalidArgument,
        "a malformed proposal id",
    );
    assert_eq!(fields(&status), ["id"]);

    let events = exactly(&platform, "projects.proposal.submitted.v1", 2).await;
    let first = decode_payload::<events::ProposalSubmitted>(&events[0])
        .expect("a ProposalSubmitted payload")
        .proposal
        .expect("the proposal");
    assert_eq!(first.id, submitted.id);
}

async fn the_core_team_reviews_proposals(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let staff = platform.person(&[], &["public-space"]);
    let colleague = platform.person(&[], &["public-space"]);
    let resident = platform.resident();
    let mut client = platform.client();

    // Approval: a draft project with the proposer as manager and the
    // intended phases.
    let park = submit(&platform, &staff, proposal(&platform, "public-space", "")).await;
    let approved = review(
        &platform,
        &admin,
        &park.id,
        proto::ReviewDecision::Approve,
        "past the core team",
    )
    .await
    .expect("an admin approves");
    let decided = approved.proposal.expect("the decided proposal");
    let project = approved.project.expect("a draft project");
    assert_eq!(decided.state(), proto::ProposalState::Approved);
    assert_eq!(decided.decision_reason, "past the core team");
    assert_eq!(decided.decided_by, admin.id);
    assert_eq!(decided.project_id, project.id);
    assert!(decided.decided_at.is_some());
    assert_eq!(project.state(), proto::ProjectState::Draft);
    assert_eq!(project.visibility(), proto::Visibility::Public);
    assert_eq!(project.proposal_id, park.id);
    assert_eq!(project.department_id, "public-space");
    assert_eq!(text(project.title.as_ref()), "Speelplein");
    assert_eq!(text(project.description.as_ref()), "Een plek om te spelen");
    let team = project.team.clone().expect("a team");
    assert_eq!(team.manager_ids, std::slice::from_ref(&staff.id));
    assert!(team.communication_contact_id.is_empty());
    assert_eq!(project.phases.len(), park.intended_phases.len());
    for (made, intended) in project.phases.iter().zip(&park.intended_phases) {
        assert_eq!(made.title, intended.title);
        assert_eq!(made.method, intended.method);
        assert_eq!(made.starts_at, intended.starts_at);
        assert_eq!(made.ends_at, intended.ends_at);
    }
    let seen = get_project(&platform, &project.id, Some(&staff))
        .await
        .expect("the proposer manages the draft");
    assert_eq!(seen.id, project.id);
    refused(
        client
            .get_project(authed(
                proto::GetProjectRequest {
                    id: project.id.clone(),
                },
                &resident.token,
            ))
            .await,
        Code::NotFound,
        "a resident looks at the draft",
    );
    refused(
        client
            .review_proposal(authed(
                proto::ReviewProposalRequest {
                    id: park.id.clone(),
                    decision: proto::ReviewDecision::RequestChanges as i32,
                    reason: "second thoughts".to_owned(),
                    etag: String::new(),
                },
                &admin.token,
            ))
            .await,
        Code::FailedPrecondition,
        "reviewing an approved proposal",
    );

    // Refusals that change nothing.
    let square = submit(&platform, &staff, proposal(&platform, "public-space", "")).await;
    for reason in ["", "   "] {
        let status = refused(
            client
                .review_proposal(authed(
                    proto::ReviewProposalRequest {
                        id: square.id.clone(),
                        decision: proto::ReviewDecision::Reject as i32,
                        reason: reason.to_owned(),
                        etag: String::new(),
                    },
                    &admin.token,
                ))
                .await,
            Code::InvalidArgument,
            "a decision without a reason",
        );
        assert_eq!(fields(&status), ["reason"]);
    }
    let status = refused(
        client
            .review_proposal(authed(
                proto::ReviewProposalRequest {
                    id: square.id.clone(),
                    decision: proto::ReviewDecision::Unspecified as i32,
                    reason: "undecided".to_owned(),
                    etag: String::new(),
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "no decision",
    );
    assert_eq!(fields(&status), ["decision"]);
    refused(
        client
            .review_proposal(authed(
                proto::ReviewProposalRequest {
                    id: square.id.clone(),
                    decision: proto::ReviewDecision::Approve as i32,
                    reason: "I like it".to_owned(),
                    etag: String::new(),
                },
                &staff.token,
            ))
            .await,
        Code::PermissionDenied,
        "the proposer approves their own proposal",
    );
    refused(
        client
            .review_proposal(Request::new(proto::ReviewProposalRequest {
                id: square.id.clone(),
                decision: proto::ReviewDecision::Approve as i32,
                reason: "anonymous".to_owned(),
                etag: String::new(),
            }))
            .await,
        Code::Unauthenticated,
        "an anonymous review",
    );
    refused(
        review(
            &platform,
            &admin,
            &uuid::Uuid::now_v7().to_string(),
            proto::ReviewDecision::Approve,
            "unknown",
        )
        .await
        .map(Response::new),
        Code::NotFound,
        "reviewing an unknown proposal",
    );

    // Changes requested, revised by the proposer, submitted again.
    let sent_back = review(
        &platform,
        &admin,
        &square.id,
        proto::ReviewDecision::RequestChanges,
        "add a budget",
    )
    .await
    .expect("an admin asks for changes")
    .proposal
    .expect("the proposal");
    assert_eq!(sent_back.state(), proto::ProposalState::ChangesRequested);
    assert_eq!(sent_back.decision_reason, "add a budget");
    let revision = |etag: &str| {
        let mut revised = proposal(&platform, "public-space", "");
        proto::ReviseProposalRequest {
            id: square.id.clone(),
            title: Some(nl("Speelplein met budget")),
            goal: revised.goal.take(),
            department_id: revised.department_id,
            intended_phases: revised.intended_phases,
            communication_plan: revised.communication_plan,
            etag: etag.to_owned(),
        }
    };
    for (who, what) in [
        (&colleague, "a colleague revises someone else's proposal"),
        (&admin, "an admin revises someone else's proposal"),
    ] {
        refused(
            client
                .revise_proposal(authed(revision(&sent_back.etag), &who.token))
                .await,
            Code::PermissionDenied,
            what,
        );
    }
    refused(
        client
            .revise_proposal(Request::new(revision(&sent_back.etag)))
            .await,
        Code::Unauthenticated,
        "an anonymous revision",
    );
    refused(
        client
            .revise_proposal(authed(revision(&square.etag), &staff.token))
            .await,
        Code::Aborted,
        "a revision with a stale etag",
    );
    let mut untitled = revision(&sent_back.etag);
    untitled.title = None;
    let status = refused(
        client.revise_proposal(authed(untitled, &staff.token)).await,
        Code::InvalidArgument,
        "a revision without a title",
    );
    assert_eq!(fields(&status), ["title"]);
    let revised = client
        .revise_proposal(authed(revision(&sent_back.etag), &staff.token))
        .await
        .expect("the proposer revises")
        .into_inner();
    assert_eq!(revised.state(), proto::ProposalState::Submitted);
    assert_eq!(text(revised.title.as_ref()), "Speelplein met budget");
    assert_ne!(revised.etag, sent_back.etag);
    refused(
        client
            .revise_proposal(authed(revision(&revised.etag), &staff.token))
            .await,
        Code::FailedPrecondition,
        "revising a proposal that waits for a decision",
    );
    refused(
        client
            .review_proposal(authed(
                proto::ReviewProposalRequest {
                    id: square.id.clone(),
                    decision: proto::ReviewDecision::Approve as i32,
                    reason: "stale".to_owned(),
                    etag: sent_back.etag.clone(),
                },
                &admin.token,
            ))
            .await,
        Code::Aborted,
        "a review with a stale etag",
    );

    // Rejection, after which nothing more is decided.
    let rejected = review(
        &platform,
        &admin,
        &square.id,
        proto::ReviewDecision::Reject,
        "not this year",
    )
    .await
    .expect("an admin rejects");
    assert!(rejected.project.is_none(), "a rejection makes no project");
    let rejected = rejected.proposal.expect("the proposal");
    assert_eq!(rejected.state(), proto::ProposalState::Rejected);
    assert!(rejected.project_id.is_empty());
    refused(
        review(
            &platform,
            &admin,
            &square.id,
            proto::ReviewDecision::Approve,
            "changed our minds",
        )
        .await
        .map(Response::new),
        Code::FailedPrecondition,
        "reviewing a rejected proposal",
    );
    refused(
        client
            .revise_proposal(authed(revision(&rejected.etag), &staff.token))
            .await,
        Code::FailedPrecondition,
        "revising a rejected proposal",
    );

    exactly(&platform, "projects.proposal.submitted.v1", 3).await;
    exactly(&platform, "projects.proposal.decided.v1", 3).await;
    let created = exactly(&platform, "projects.project.created.v1", 1).await;
    assert_eq!(changed_project(&created[0]).id, project.id);
}

async fn proposals_are_listed_by_who_may_see_them(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let alice = platform.person(&[], &["public-space"]);
    let bob = platform.person(&[], &["mobility"]);
    let resident = platform.resident();
    let mut alices = Vec::new();
    for _ in 0..3 {
        alices.push(submit(&platform, &alice, proposal(&platform, "public-space", "")).await);
    }
    let mut bobs = Vec::new();
    for _ in 0..2 {
        bobs.push(submit(&platform, &bob, proposal(&platform, "mobility", "")).await);
    }
    review(
        &platform,
        &admin,
        &alices[0].id,
        proto::ReviewDecision::Approve,
        "go",
    )
    .await
    .expect("approve");
    review(
        &platform,
        &admin,
        &bobs[0].id,
        proto::ReviewDecision::Reject,
        "no",
    )
    .await
    .expect("reject");
    let everyone: Vec<String> = sorted(alices.iter().chain(&bobs).map(|p| p.id.clone()).collect());
    let ids = |list: &[proto::Proposal]| sorted(list.iter().map(|p| p.id.clone()).collect());

    use proto::ProposalState as S;
    let (all, _) = list_proposals(&platform, &admin, S::Unspecified, 0).await;
    assert_eq!(ids(&all), everyone, "admins see every proposal");
    let (own, _) = list_proposals(&platform, &alice, S::Unspecified, 0).await;
    assert_eq!(ids(&own), ids(&alices), "a proposer sees their own");
    assert!(own.iter().all(|p| p.proposer_id == alice.id));
    let (own, _) = list_proposals(&platform, &bob, S::Unspecified, 0).await;
    assert_eq!(ids(&own), ids(&bobs));
    let (none, _) = list_proposals(&platform, &resident, S::Unspecified, 0).await;
    assert!(none.is_empty(), "a resident proposed nothing");

    let (approved, _) = list_proposals(&platform, &admin, S::Approved, 0).await;
    assert_eq!(ids(&approved), [alices[0].id.clone()]);
    let (rejected, _) = list_proposals(&platform, &admin, S::Rejected, 0).await;
    assert_eq!(ids(&rejected), [bobs[0].id.clone()]);
    let (waiting, _) = list_proposals(&platform, &admin, S::Submitted, 0).await;
    assert_eq!(
        ids(&waiting),
        sorted(vec![
            alices[1].id.clone(),
            alices[2].id.clone(),
            bobs[1].id.clone()
        ])
    );
    let (waiting, _) = list_proposals(&platform, &alice, S::Submitted, 0).await;
    assert_eq!(
        ids(&waiting),
        sorted(vec![alices[1].id.clone(), alices[2].id.clone()])
    );
    let (sent_back, _) = list_proposals(&platform, &admin, S::ChangesRequested, 0).await;
    assert!(sent_back.is_empty());

    // Keyset pagination: each proposal once.
    let (paged, pages) = list_proposals(&platform, &admin, S::Unspecified, 2).await;
    assert_eq!(ids(&paged), everyone);
    assert_eq!(pages, 3);
    let (paged, pages) = list_proposals(&platform, &alice, S::Unspecified, 1).await;
    assert_eq!(ids(&paged), ids(&alices));
    assert_eq!(pages, 3);

    let mut client = platform.client();
    let status = refused(
        client
            .list_proposals(authed(
                proto::ListProposalsRequest {
                    page_size: -1,
                    ..Default::default()
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "a negative page size",
    );
    assert_eq!(fields(&status), ["page_size"]);
    let status = refused(
        client
            .list_proposals(authed(
                proto::ListProposalsRequest {
                    page_token: "garbage".to_owned(),
                    ..Default::default()
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "a malformed page token",
    );
    assert_eq!(fields(&status), ["page_token"]);
    refused(
        client
            .list_proposals(Request::new(proto::ListProposalsRequest::default()))
            .await,
        Code::Unauthenticated,
        "anonymous lists proposals",
    );
}

// --- folders ---------------------------------------------------------------

async fn admins_create_folders_and_anyone_lists_them(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let resident = platform.resident();
    let mut client = platform.client();
    let folder = |title: &str| proto::CreateFolderRequest {
        title: Some(nl(title)),
        description: Some(nl("Projecten rond dit thema")),
    };

    let mobility = client
        .create_folder(authed(folder("Mobiliteit"), &admin.token))
        .await
        .expect("an admin creates a folder")
        .into_inner();
    assert!(!mobility.id.is_empty());
    assert_eq!(text(mobility.title.as_ref()), "Mobiliteit");
    assert_eq!(
        text(mobility.description.as_ref()),
        "Projecten rond dit thema"
    );
    let green = client
        .create_folder(authed(folder("Groen"), &admin.token))
        .await
        .expect("an admin creates a second folder")
        .into_inner();

    refused(
        client
            .create_folder(authed(folder("Wonen"), &resident.token))
            .await,
        Code::PermissionDenied,
        "a resident creates a folder",
    );
    let manager = platform.person(&[], &["public-space"]);
    refused(
        client
            .create_folder(authed(folder("Wonen"), &manager.token))
            .await,
        Code::PermissionDenied,
        "department staff create a folder",
    );
    refused(
        client.create_folder(Request::new(folder("Wonen"))).await,
        Code::Unauthenticated,
        "an anonymous folder",
    );
    let status = refused(
        client
            .create_folder(authed(
                proto::CreateFolderRequest {
                    title: None,
                    description: None,
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "a folder without a title",
    );
    assert_eq!(fields(&status), ["title"]);

    let listed = client
        .list_folders(Request::new(proto::ListFoldersRequest {}))
        .await
        .expect("anyone lists the folders")
        .into_inner()
        .folders;
    assert_eq!(listed, [mobility, green], "the folders, oldest first");
}

// --- projects --------------------------------------------------------------

async fn who_sees_a_project(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let other_manager = platform.person(&[], &["public-space"]);
    let officer = platform.person(&["communication_officer"], &[]);
    let resident = platform.resident();
    let project = platform.project(&admin, &manager, 1, Some(30)).await;
    platform.project(&admin, &other_manager, 1, Some(30)).await;
    let id = project.id.as_str();
    let listed = |who: Option<&Who>| {
        let platform = &platform;
        let who = who.cloned();
        async move {
            list_project_ids(
                platform,
                proto::ListProjectsRequest::default(),
                who.as_ref(),
            )
            .await
            .0
            .contains(&id.to_owned())
        }
    };

    // A draft: its team and admins only.
    for (who, name) in [
        (None, "anonymous"),
        (Some(&resident), "a resident"),
        (Some(&other_manager), "another project's manager"),
        (Some(&officer), "a communication officer"),
    ] {
        let status = get_project(&platform, id, who)
            .await
            .expect_err("a draft is hidden");
        assert_eq!(
            status.code(),
            Code::NotFound,
            "{name} sees a draft: {status:?}"
        );
        assert!(!listed(who).await, "{name} lists a draft");
    }
    for who in [&admin, &manager] {
        assert_eq!(
            get_project(&platform, id, Some(who))
                .await
                .expect("admins and the team see a draft")
                .id,
            id
        );
        assert!(listed(Some(who)).await, "admins and the team list a draft");
    }

    // Published and public: everyone.
    publish(&platform, &admin, id).await;
    for who in [None, Some(&resident), Some(&other_manager), Some(&officer)] {
        get_project(&platform, id, who)
            .await
            .expect("a published public project is public");
        assert!(listed(who).await);
    }

    // Registered: signed-in people only.
    let registered = update_project(
        &platform,
        proto::UpdateProjectRequest {
            id: id.to_owned(),
            visibility: proto::Visibility::Registered as i32,
            update_mask: mask(&["visibility"]),
            ..Default::default()
        },
        Some(&manager),
    )
    .await
    .expect("the manager restricts the project to registered people");
    assert_eq!(registered.visibility(), proto::Visibility::Registered);
    let status = get_project(&platform, id, None)
        .await
        .expect_err("hidden from anonymous");
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        !listed(None).await,
        "anonymous lists a registered-only project"
    );
    get_project(&platform, id, Some(&resident))
        .await
        .expect("a resident sees a registered-only project");
    assert!(listed(Some(&resident)).await);

    // Staff: admins and the team only.
    update_project(
        &platform,
        proto::UpdateProjectRequest {
            id: id.to_owned(),
            visibility: proto::Visibility::Staff as i32,
            update_mask: mask(&["visibility"]),
            ..Default::default()
        },
        Some(&manager),
    )
    .await
    .expect("the manager restricts the project to staff");
    for (who, name) in [
        (None, "anonymous"),
        (Some(&resident), "a resident"),
        (Some(&other_manager), "another project's manager"),
        (Some(&officer), "a communication officer"),
    ] {
        let status = get_project(&platform, id, who)
            .await
            .expect_err("a staff-only project is hidden");
        assert_eq!(status.code(), Code::NotFound, "{name}: {status:?}");
        assert!(!listed(who).await, "{name} lists a staff-only project");
    }
    for who in [&admin, &manager] {
        get_project(&platform, id, Some(who))
            .await
            .expect("admins and the team see a staff-only project");
        assert!(listed(Some(who)).await);
    }
    // The communication contact is on the team.
    let contact = platform.person(&[], &[]);
    platform
        .client()
        .set_project_team(authed(
            proto::SetProjectTeamRequest {
                project_id: id.to_owned(),
                team: Some(proto::Team {
                    manager_ids: vec![manager.id.clone()],
                    communication_contact_id: contact.id.clone(),
                }),
            },
            &admin.token,
        ))
        .await
        .expect("the admin names a communication contact");
    get_project(&platform, id, Some(&contact))
        .await
        .expect("the communication contact sees a staff-only project");

    let status = get_project(&platform, &uuid::Uuid::now_v7().to_string(), Some(&admin))
        .await
        .expect_err("an unknown project");
    assert_eq!(status.code(), Code::NotFound);
    let status = get_project(&platform, "not-an-id", Some(&admin))
        .await
        .expect_err("a malformed id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["id"]);
}

async fn projects_are_listed_filtered_and_paged(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let resident = platform.resident();
    let folder = platform
        .client()
        .create_folder(authed(
            proto::CreateFolderRequest {
                title: Some(nl("Groen")),
                description: None,
            },
            &admin.token,
        ))
        .await
        .expect("a folder")
        .into_inner();

    let draft = platform.project(&admin, &manager, 1, Some(30)).await;
    let filed = platform.project(&admin, &manager, 1, Some(30)).await;
    let filed = update_project(
        &platform,
        proto::UpdateProjectRequest {
            id: filed.id.clone(),
            folder_id: folder.id.clone(),
            department_id: "mobility".to_owned(),
            topics: vec!["Groen".to_owned(), "fietsen".to_owned()],
            update_mask: mask(&["folder_id", "department_id", "topics"]),
            ..Default::default()
        },
        Some(&manager),
    )
    .await
    .expect("file the project");
    let filed = publish(&platform, &admin, &filed.id).await;
    let ended = platform.project(&admin, &manager, -10, Some(-5)).await;
    let ended = publish(&platform, &admin, &ended.id).await;
    let archived = platform.project(&admin, &manager, 1, Some(30)).await;
    let archived = platform
        .client()
        .archive_project(authed(
            proto::ArchiveProjectRequest {
                id: archived.id.clone(),
            },
            &admin.token,
        ))
        .await
        .expect("archive a draft")
        .into_inner();
    let open = platform.project(&admin, &manager, 2, None).await;
    let open = publish(&platform, &admin, &open.id).await;
    assert!(filed.active && open.active && !ended.active);

    let all = ids_of(&[&draft, &filed, &ended, &archived, &open]);
    let list = |request: proto::ListProjectsRequest, who: Option<&Who>| {
        let platform = &platform;
        let who = who.cloned();
        async move { sorted(list_project_ids(platform, request, who.as_ref()).await.0) }
    };
    let request = proto::ListProjectsRequest::default;
    use proto::ProjectState as S;

    assert_eq!(list(request(), Some(&admin)).await, all);
    assert_eq!(
        list(request(), Some(&manager)).await,
        all,
        "the team lists its drafts"
    );
    let public = ids_of(&[&filed, &ended, &archived, &open]);
    assert_eq!(
        list(request(), None).await,
        public,
        "no drafts for anonymous"
    );
    assert_eq!(list(request(), Some(&resident)).await, public);

    let by_state = |state: S| proto::ListProjectsRequest {
        state: state as i32,
        ..request()
    };
    assert_eq!(
        list(by_state(S::Draft), Some(&admin)).await,
        ids_of(&[&draft])
    );
    assert_eq!(
        list(by_state(S::Published), Some(&admin)).await,
        ids_of(&[&filed, &ended, &open])
    );
    assert_eq!(
        list(by_state(S::Archived), Some(&admin)).await,
        ids_of(&[&archived])
    );
    assert!(list(by_state(S::Draft), None).await.is_empty());
    assert_eq!(
        list(
            proto::ListProjectsRequest {
                folder_id: folder.id.clone(),
                ..request()
            },
            None
        )
        .await,
        ids_of(&[&filed])
    );
    assert_eq!(
        list(
            proto::ListProjectsRequest {
                department_id: "mobility".to_owned(),
                ..request()
            },
            None
        )
        .await,
        ids_of(&[&filed])
    );
    assert_eq!(
        list(
            proto::ListProjectsRequest {
                department_id: "public-space".to_owned(),
                ..request()
            },
            Some(&admin)
        )
        .await,
        ids_of(&[&draft, &ended, &archived, &open])
    );
    for topic in ["groen", "fietsen"] {
        assert_eq!(
            list(
                proto::ListProjectsRequest {
                    topic: topic.to_owned(),
                    ..request()
                },
                None
            )
            .await,
            ids_of(&[&filed]),
            "topic {topic}"
        );
    }
    assert!(
        list(
            proto::ListProjectsRequest {
                topic: "wonen".to_owned(),
                ..request()
            },
            None
        )
        .await
        .is_empty()
    );
    assert_eq!(
        list(
            proto::ListProjectsRequest {
                active_only: true,
                ..request()
            },
            None
        )
        .await,
        ids_of(&[&filed, &open])
    );
    assert_eq!(
        list(
            proto::ListProjectsRequest {
                state: S::Published as i32,
                department_id: "public-space".to_owned(),
                ..request()
            },
            None
        )
        .await,
        ids_of(&[&ended, &open])
    );

    // Keyset pagination: each project once, in pages of the size asked.
    for (who, size, expected, pages) in [
        (Some(&admin), 2, all.clone(), 3),
        (Some(&admin), 1, all.clone(), 5),
        (None, 3, public.clone(), 2),
        (Some(&resident), 1, public.clone(), 4),
    ] {
        let (ids, counted) = list_project_ids(
            &platform,
            proto::ListProjectsRequest {
                page_size: size,
                ..request()
            },
            who,
        )
        .await;
        assert_eq!(sorted(ids), expected, "pages of {size}");
        assert_eq!(counted, pages, "pages of {size}");
    }
    let first = platform
        .client()
        .list_projects(Request::new(proto::ListProjectsRequest {
            page_size: 2,
            ..request()
        }))
        .await
        .expect("a first page")
        .into_inner();
    assert_eq!(first.projects.len(), 2, "pages stay full");

    let mut client = platform.client();
    for (bad, field) in [
        (
            proto::ListProjectsRequest {
                page_size: -1,
                ..request()
            },
            "page_size",
        ),
        (
            proto::ListProjectsRequest {
                page_token: "garbage".to_owned(),
                ..request()
            },
            "page_token",
        ),
        (
            proto::ListProjectsRequest {
                folder_id: "garbage".to_owned(),
                ..request()
            },
            "folder_id",
        ),
        (
            proto::ListProjectsRequest {
                state: 42,
                ..request()
            },
            "state",
        ),
    ] {
        let status = refused(
            client.list_projects(Request::new(bad)).await,
            Code::InvalidArgument,
            field,
        );
        assert_eq!(fields(&status), [field]);
    }
}

async fn managers_update_their_projects(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let other_manager = platform.person(&[], &["public-space"]);
    let resident = platform.resident();
    let project = platform.project(&admin, &manager, 1, Some(30)).await;
    platform.project(&admin, &other_manager, 1, Some(30)).await;
    let folder = platform
        .client()
        .create_folder(authed(
            proto::CreateFolderRequest {
                title: Some(nl("Groen")),
                description: None,
            },
            &admin.token,
        ))
        .await
        .expect("a folder")
        .into_inner();
    let id = project.id.clone();
    let change = |paths: &[&str], etag: &str| proto::UpdateProjectRequest {
        id: id.clone(),
        update_mask: mask(paths),
        etag: etag.to_owned(),
        ..Default::default()
    };
    let mut updates = 0;

    // title and description, with the etag read.
    let updated = update_project(
        &platform,
        proto::UpdateProjectRequest {
            title: Some(nl("Een groener park")),
            description: Some(nl("Bomen, banken en een speeltuin")),
            ..change(&["title", "description"], &project.etag)
        },
        Some(&manager),
    )
    .await
    .expect("the manager changes title and description");
    updates += 1;
    assert_eq!(text(updated.title.as_ref()), "Een groener park");
    assert_eq!(
        text(updated.description.as_ref()),
        "Bomen, banken en een speeltuin"
    );
    assert_ne!(updated.etag, project.etag);
    assert_eq!(
        updated.department_id, project.department_id,
        "only what the mask names changes"
    );

    // prescreening: input is screened before it is public.
    let screened = update_project(
        &platform,
        proto::UpdateProjectRequest {
            prescreening: true,
            ..change(&["prescreening"], "")
        },
        Some(&manager),
    )
    .await
    .expect("the manager turns prescreening on");
    updates += 1;
    assert!(screened.prescreening);
    assert!(
        get_project(&platform, &id, Some(&manager))
            .await
            .expect("read back")
            .prescreening
    );

    // folder_id: set, unknown, malformed, cleared.
    let filed = update_project(
        &platform,
        proto::UpdateProjectRequest {
            folder_id: folder.id.clone(),
            ..change(&["folder_id"], "")
        },
        Some(&manager),
    )
    .await
    .expect("the manager files the project");
    updates += 1;
    assert_eq!(filed.folder_id, folder.id);
    let status = update_project(
        &platform,
        proto::UpdateProjectRequest {
            folder_id: uuid::Uuid::now_v7().to_string(),
            ..change(&["folder_id"], "")
        },
        Some(&manager),
    )
    .await
    .expect_err("an unknown folder");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = update_project(
        &platform,
        proto::UpdateProjectRequest {
            folder_id: "garbage".to_owned(),
            ..change(&["folder_id"], "")
        },
        Some(&manager),
    )
    .await
    .expect_err("a malformed folder id");
    assert_eq!(fields(&status), ["folder_id"]);
    let unfiled = update_project(&platform, change(&["folder_id"], ""), Some(&manager))
        .await
        .expect("an empty folder id takes the project out of its folder");
    updates += 1;
    assert!(unfiled.folder_id.is_empty());

    // visibility
    let registered = update_project(
        &platform,
        proto::UpdateProjectRequest {
            visibility: proto::Visibility::Registered as i32,
            ..change(&["visibility"], "")
        },
        Some(&manager),
    )
    .await
    .expect("the manager changes the visibility");
    updates += 1;
    assert_eq!(registered.visibility(), proto::Visibility::Registered);
    let status = update_project(&platform, change(&["visibility"], ""), Some(&manager))
        .await
        .expect_err("an unspecified visibility");
    assert_eq!(fields(&status), ["visibility"]);

    // department_id
    let moved = update_project(
        &platform,
        proto::UpdateProjectRequest {
            department_id: "mobility".to_owned(),
            ..change(&["department_id"], "")
        },
        Some(&admin),
    )
    .await
    .expect("an admin moves the project to another department");
    updates += 1;
    assert_eq!(moved.department_id, "mobility");
    let status = update_project(
        &platform,
        proto::UpdateProjectRequest {
            department_id: "  ".to_owned(),
            ..change(&["department_id"], "")
        },
        Some(&manager),
    )
    .await
    .expect_err("no department");
    assert_eq!(fields(&status), ["department_id"]);

    // topics: trimmed, lower-cased, each once.
    let tagged = update_project(
        &platform,
        proto::UpdateProjectRequest {
            topics: vec![
                "Groen".to_owned(),
                " groen ".to_owned(),
                "Spelen".to_owned(),
            ],
            ..change(&["topics"], "")
        },
        Some(&manager),
    )
    .await
    .expect("the manager tags the project");
    updates += 1;
    assert_eq!(tagged.topics, ["groen", "spelen"]);
    let status = update_project(
        &platform,
        proto::UpdateProjectRequest {
            topics: vec![String::new()],
            ..change(&["topics"], "")
        },
        Some(&manager),
    )
    .await
    .expect_err("an empty topic");
    assert_eq!(fields(&status), ["topics[0]"]);

    // A path that cannot be changed refuses the whole update.
    let before = get_project(&platform, &id, Some(&admin))
        .await
        .expect("the project");
    let status = update_project(
        &platform,
        proto::UpdateProjectRequest {
            title: Some(nl("Iets anders")),
            topics: vec!["wonen".to_owned()],
            ..change(&["title", "topics", "state"], "")
        },
        Some(&manager),
    )
    .await
    .expect_err("an unknown path");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["update_mask"]);
    let status = update_project(&platform, change(&[], ""), Some(&manager))
        .await
        .expect_err("an empty mask");
    assert_eq!(fields(&status), ["update_mask"]);
    let stale = update_project(
        &platform,
        proto::UpdateProjectRequest {
            title: Some(nl("Iets anders")),
            ..change(&["title"], &project.etag)
        },
        Some(&manager),
    )
    .await
    .expect_err("a stale etag");
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    let after = get_project(&platform, &id, Some(&admin))
        .await
        .expect("the project");
    assert_eq!(after, before, "refused updates changed nothing");
    let wonen = list_project_ids(
        &platform,
        proto::ListProjectsRequest {
            topic: "wonen".to_owned(),
            ..Default::default()
        },
        Some(&admin),
    )
    .await
    .0;
    assert!(wonen.is_empty(), "the refused update left no topic behind");

    // Who may not.
    let title = || proto::UpdateProjectRequest {
        title: Some(nl("Overgenomen")),
        ..change(&["title"], "")
    };
    for (who, code, name) in [
        (Some(&resident), Code::PermissionDenied, "a resident"),
        (
            Some(&other_manager),
            Code::PermissionDenied,
            "another project's manager",
        ),
        (None, Code::Unauthenticated, "anonymous"),
    ] {
        let status = update_project(&platform, title(), who)
            .await
            .expect_err("not theirs to change");
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
    let status = update_project(
        &platform,
        proto::UpdateProjectRequest {
            id: uuid::Uuid::now_v7().to_string(),
            ..title()
        },
        Some(&admin),
    )
    .await
    .expect_err("an unknown project");
    assert_eq!(status.code(), Code::NotFound);

    let changed = exactly(&platform, "projects.project.changed.v1", updates).await;
    assert_eq!(changed_project(changed.last().expect("an event")), after);
}

async fn projects_are_published_unpublished_and_archived(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let project = platform.project(&admin, &manager, 5, Some(20)).await;
    let id = project.id.clone();
    let mut client = platform.client();
    let publish_as = |who: Option<&Who>| {
        let mut client = platform.client();
        let request = by(proto::PublishProjectRequest { id: id.clone() }, who);
        async move { client.publish_project(request).await }
    };
    let unpublish_as = |who: Option<&Who>| {
        let mut client = platform.client();
        let request = by(proto::UnpublishProjectRequest { id: id.clone() }, who);
        async move { client.unpublish_project(request).await }
    };
    let archive_as = |who: Option<&Who>| {
        let mut client = platform.client();
        let request = by(proto::ArchiveProjectRequest { id: id.clone() }, who);
        async move { client.archive_project(request).await }
    };

    // Without phases there is nothing to publish.
    let only = project.phases[0].id.clone();
    let bare = client
        .delete_phase(authed(
            proto::DeletePhaseRequest {
                project_id: id.clone(),
                phase_id: only.clone(),
            },
            &manager.token,
        ))
        .await
        .expect("the manager removes the only phase")
        .into_inner();
    assert!(bare.phases.is_empty());
    let status = refused(
        publish_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "publishing a project without phases",
    );
    assert!(status.message().contains("phase"), "{}", status.message());
    let with_phase = client
        .create_phase(authed(
            proto::CreatePhaseRequest {
                project_id: id.clone(),
                phase: Some(phase(
                    "Ideeën",
                    platform.now() + Duration::days(5),
                    Some(platform.now() + Duration::days(20)),
                    ideation(),
                )),
            },
            &manager.token,
        ))
        .await
        .expect("the manager adds a phase")
        .into_inner();
    let phase_id = with_phase.phases[0].id.clone();

    refused(
        publish_as(Some(&manager)).await,
        Code::PermissionDenied,
        "a manager publishes",
    );
    refused(
        publish_as(None).await,
        Code::Unauthenticated,
        "anonymous publishes",
    );
    let published = publish_as(Some(&admin))
        .await
        .expect("the admin publishes")
        .into_inner();
    assert_eq!(published.state(), proto::ProjectState::Published);
    assert_eq!(
        published.published_at.expect("published_at").seconds,
        platform.now().timestamp()
    );
    assert!(published.active);
    refused(
        publish_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "publishing a published project",
    );

    // Back to draft while nothing has been collected.
    refused(
        unpublish_as(Some(&manager)).await,
        Code::PermissionDenied,
        "a manager unpublishes",
    );
    refused(
        unpublish_as(None).await,
        Code::Unauthenticated,
        "anonymous unpublishes",
    );
    let unpublished = unpublish_as(Some(&admin))
        .await
        .expect("the admin takes the project back to draft")
        .into_inner();
    assert_eq!(unpublished.state(), proto::ProjectState::Draft);
    assert!(unpublished.published_at.is_none());
    assert!(!unpublished.active);
    refused(
        unpublish_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "unpublishing a draft",
    );

    // Once residents contributed, it stays published and the phase's method
    // is fixed.
    publish_as(Some(&admin)).await.expect("published again");
    report_input(&platform, &id, &phase_id).await;
    let status = refused(
        unpublish_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "unpublishing a project with input",
    );
    assert!(
        status.message().contains("contributed"),
        "{}",
        status.message()
    );
    let current = get_project(&platform, &id, Some(&admin))
        .await
        .expect("the project");
    assert_eq!(current.state(), proto::ProjectState::Published);
    let mut changed = current.phases[0].clone();
    changed.method = Some(poll());
    refused(
        client
            .update_phase(authed(
                proto::UpdatePhaseRequest {
                    project_id: id.clone(),
                    phase: Some(changed),
                    etag: String::new(),
                },
                &manager.token,
            ))
            .await,
        Code::FailedPrecondition,
        "changing the method of a phase with input",
    );
    let mut later = current.phases[0].clone();
    later.starts_at = Some(ts(platform.now() + Duration::days(6)));
    refused(
        client
            .update_phase(authed(
                proto::UpdatePhaseRequest {
                    project_id: id.clone(),
                    phase: Some(later),
                    etag: String::new(),
                },
                &manager.token,
            ))
            .await,
        Code::FailedPrecondition,
        "moving the start of a phase with input later",
    );
    refused(
        client
            .delete_phase(authed(
                proto::DeletePhaseRequest {
                    project_id: id.clone(),
                    phase_id: phase_id.clone(),
                },
                &manager.token,
            ))
            .await,
        Code::FailedPrecondition,
        "removing a phase with input",
    );
    let mut retitled = current.phases[0].clone();
    retitled.title = Some(nl("Jouw ideeën"));
    let retitled = client
        .update_phase(authed(
            proto::UpdatePhaseRequest {
                project_id: id.clone(),
                phase: Some(retitled),
                etag: String::new(),
            },
            &manager.token,
        ))
        .await
        .expect("a phase with input can still be retitled")
        .into_inner();
    assert_eq!(text(retitled.phases[0].title.as_ref()), "Jouw ideeën");
    assert_eq!(retitled.phases[0].method, Some(ideation()));

    // Archived, once.
    refused(
        archive_as(Some(&manager)).await,
        Code::PermissionDenied,
        "a manager archives",
    );
    refused(
        archive_as(None).await,
        Code::Unauthenticated,
        "anonymous archives",
    );
    let archived = archive_as(Some(&admin))
        .await
        .expect("the admin archives")
        .into_inner();
    assert_eq!(archived.state(), proto::ProjectState::Archived);
    assert!(!archived.active);
    refused(
        archive_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "archiving an archived project",
    );
    refused(
        publish_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "publishing an archived project",
    );
    refused(
        unpublish_as(Some(&admin)).await,
        Code::FailedPrecondition,
        "unpublishing an archived project",
    );
    refused(
        client
            .create_phase(authed(
                proto::CreatePhaseRequest {
                    project_id: id.clone(),
                    phase: Some(phase(
                        "Stemmen",
                        platform.now() + Duration::days(20),
                        Some(platform.now() + Duration::days(30)),
                        single_vote(),
                    )),
                },
                &manager.token,
            ))
            .await,
        Code::FailedPrecondition,
        "a new phase in an archived project",
    );

    let unknown = uuid::Uuid::now_v7().to_string();
    refused(
        client
            .publish_project(authed(
                proto::PublishProjectRequest {
                    id: unknown.clone(),
                },
                &admin.token,
            ))
            .await,
        Code::NotFound,
        "publishing an unknown project",
    );
    refused(
        client
            .unpublish_project(authed(
                proto::UnpublishProjectRequest {
                    id: unknown.clone(),
                },
                &admin.token,
            ))
            .await,
        Code::NotFound,
        "unpublishing an unknown project",
    );
    refused(
        client
            .archive_project(authed(
                proto::ArchiveProjectRequest { id: unknown },
                &admin.token,
            ))
            .await,
        Code::NotFound,
        "archiving an unknown project",
    );
    let status = refused(
        client
            .publish_project(authed(
                proto::PublishProjectRequest {
                    id: "garbage".to_owned(),
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "publishing a malformed id",
    );
    assert_eq!(fields(&status), ["id"]);

    let published = exactly(&platform, "projects.project.published.v1", 2).await;
    assert_eq!(changed_project(&published[0]).id, id);
    assert_eq!(
        changed_project(&published[1]).state(),
        proto::ProjectState::Published
    );
    let unpublished = exactly(&platform, "projects.project.unpublished.v1", 1).await;
    assert_eq!(
        changed_project(&unpublished[0]).state(),
        proto::ProjectState::Draft
    );
    let archived = exactly(&platform, "projects.project.archived.v1", 1).await;
    assert_eq!(
        changed_project(&archived[0]).state(),
        proto::ProjectState::Archived
    );
}

async fn admins_set_the_project_team(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let project = platform.project(&admin, &manager, 1, Some(30)).await;
    let (anna, bram, contact) = (
        platform.person(&[], &["public-space"]),
        platform.person(&[], &["mobility"]),
        platform.person(&[], &[]),
    );
    let mut client = platform.client();
    let team = |managers: Vec<String>, contact: &str| proto::SetProjectTeamRequest {
        project_id: project.id.clone(),
        team: Some(proto::Team {
            manager_ids: managers,
            communication_contact_id: contact.to_owned(),
        }),
    };

    let set = client
        .set_project_team(authed(
            team(
                vec![anna.id.clone(), bram.id.clone(), anna.id.clone()],
                &contact.id,
            ),
            &admin.token,
        ))
        .await
        .expect("the admin sets the team")
        .into_inner();
    let set_team = set.team.clone().expect("a team");
    assert_eq!(
        sorted(set_team.manager_ids.clone()),
        sorted(vec![anna.id.clone(), bram.id.clone()]),
        "each manager once"
    );
    assert_eq!(set_team.communication_contact_id, contact.id);

    // The new managers manage; the old one no longer does.
    let retitle = |title: &str| proto::UpdateProjectRequest {
        id: project.id.clone(),
        title: Some(nl(title)),
        update_mask: mask(&["title"]),
        ..Default::default()
    };
    update_project(&platform, retitle("Door Anna"), Some(&anna))
        .await
        .expect("a new manager changes the project");
    update_project(&platform, retitle("Door Bram"), Some(&bram))
        .await
        .expect("the other new manager changes the project");
    let status = update_project(&platform, retitle("Door de vorige"), Some(&manager))
        .await
        .expect_err("the former manager");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = update_project(&platform, retitle("Door het contact"), Some(&contact))
        .await
        .expect_err("the communication contact does not manage");
    assert_eq!(status.code(), Code::PermissionDenied);
    get_project(&platform, &project.id, Some(&contact))
        .await
        .expect("the communication contact sees the draft");
    let status = get_project(&platform, &project.id, Some(&manager))
        .await
        .expect_err("the former manager no longer sees the draft");
    assert_eq!(status.code(), Code::NotFound);

    // Refusals.
    for (request, field) in [
        (team(Vec::new(), ""), "team.manager_ids"),
        (
            proto::SetProjectTeamRequest {
                project_id: project.id.clone(),
                team: None,
            },
            "team.manager_ids",
        ),
        (team(vec!["anna".to_owned()], ""), "team.manager_ids[0]"),
        (
            team(vec![anna.id.clone()], "the-press-office"),
            "team.communication_contact_id",
        ),
    ] {
        let status = refused(
            client.set_project_team(authed(request, &admin.token)).await,
            Code::InvalidArgument,
            field,
        );
        assert_eq!(fields(&status), [field]);
    }
    let status = refused(
        client
            .set_project_team(authed(
                proto::SetProjectTeamRequest {
                    project_id: "garbage".to_owned(),
                    ..team(vec![anna.id.clone()], "")
                },
                &admin.token,
            ))
            .await,
        Code::InvalidArgument,
        "a malformed project id",
    );
    assert_eq!(fields(&status), ["project_id"]);
    refused(
        client
            .set_project_team(authed(team(vec![anna.id.clone()], ""), &anna.token))
            .await,
        Code::PermissionDenied,
        "a manager sets the team",
    );
    refused(
        client
            .set_project_team(Request::new(team(vec![anna.id.clone()], "")))
            .await,
        Code::Unauthenticated,
        "anonymous sets the team",
    );
    refused(
        client
            .set_project_team(authed(
                proto::SetProjectTeamRequest {
                    project_id: uuid::Uuid::now_v7().to_string(),
                    ..team(vec![anna.id.clone()], "")
                },
                &admin.token,
            ))
            .await,
        Code::NotFound,
        "the team of an unknown project",
    );
    let after = get_project(&platform, &project.id, Some(&admin))
        .await
        .expect("the project");
    assert_eq!(after.team, Some(set_team), "refusals left the team as set");

    // platform.project set the first team; this test the second.
    let changes = exactly(&platform, "projects.team.changed.v1", 2).await;
    let announced = changed_project(&changes[1]).team.expect("the team");
    assert_eq!(announced.communication_contact_id, contact.id);
}

// --- phases ----------------------------------------------------------------

async fn managers_plan_phases(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let other_manager = platform.person(&[], &["public-space"]);
    let resident = platform.resident();
    let project = platform.project(&admin, &manager, 10, Some(20)).await;
    let other = platform.project(&admin, &other_manager, 10, Some(20)).await;
    let now = platform.now();
    let mut client = platform.client();
    let create = |who: Option<&Who>, phase: Option<proto::Phase>| {
        let mut client = platform.client();
        let request = by(
            proto::CreatePhaseRequest {
                project_id: project.id.clone(),
                phase,
            },
            who,
        );
        async move { client.create_phase(request).await }
    };

    let voting = create(
        Some(&manager),
        Some(phase(
            "Stemmen",
            now + Duration::days(20),
            Some(now + Duration::days(30)),
            single_vote(),
        )),
    )
    .await
    .expect("the manager adds a phase")
    .into_inner();
    assert_ne!(voting.etag, project.etag);
    let informed = create(
        Some(&admin),
        Some(phase(
            "Info",
            now + Duration::days(2),
            Some(now + Duration::days(10)),
            information(),
        )),
    )
    .await
    .expect("an admin adds an earlier phase")
    .into_inner();
    let titles: Vec<&str> = informed
        .phases
        .iter()
        .map(|p| text(p.title.as_ref()))
        .collect();
    assert_eq!(
        titles,
        ["Info", "Ideeën", "Stemmen"],
        "phases in time order"
    );
    assert_eq!(informed.phases[2].method, Some(single_vote()));
    assert_eq!(informed.phases[2].permissions, Some(everyone_registered()));
    let (info, vote) = (informed.phases[0].clone(), informed.phases[2].clone());

    for (who, code, name) in [
        (
            Some(&other_manager),
            Code::PermissionDenied,
            "another project's manager",
        ),
        (Some(&resident), Code::PermissionDenied, "a resident"),
        (None, Code::Unauthenticated, "anonymous"),
    ] {
        let status = create(
            who,
            Some(phase(
                "Extra",
                now + Duration::days(40),
                Some(now + Duration::days(50)),
                poll(),
            )),
        )
        .await
        .expect_err("not theirs to plan");
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
    let status = refused(
        create(Some(&manager), None).await,
        Code::InvalidArgument,
        "no phase",
    );
    assert_eq!(fields(&status), ["phase"]);

    // Updated, with the project's etag.
    let mut renamed = vote.clone();
    renamed.title = Some(nl("Stemronde"));
    renamed.ends_at = Some(ts(now + Duration::days(35)));
    let updated = client
        .update_phase(authed(
            proto::UpdatePhaseRequest {
                project_id: project.id.clone(),
                phase: Some(renamed.clone()),
                etag: informed.etag.clone(),
            },
            &manager.token,
        ))
        .await
        .expect("the manager changes a phase")
        .into_inner();
    let changed = updated
        .phases
        .iter()
        .find(|p| p.id == vote.id)
        .expect("the phase");
    assert_eq!(text(changed.title.as_ref()), "Stemronde");
    assert_eq!(changed.ends_at, Some(ts(now + Duration::days(35))));
    refused(
        client
            .update_phase(authed(
                proto::UpdatePhaseRequest {
                    project_id: project.id.clone(),
                    phase: Some(renamed.clone()),
                    etag: informed.etag.clone(),
                },
                &manager.token,
            ))
            .await,
        Code::Aborted,
        "a stale etag",
    );
    for (phase_id, code, name) in [
        (
            uuid::Uuid::now_v7().to_string(),
            Code::NotFound,
            "an unknown phase",
        ),
        (
            other.phases[0].id.clone(),
            Code::NotFound,
            "another project's phase",
        ),
        (
            "garbage".to_owned(),
            Code::InvalidArgument,
            "a malformed phase id",
        ),
    ] {
        let mut unknown = renamed.clone();
        unknown.id = phase_id.clone();
        refused(
            client
                .update_phase(authed(
                    proto::UpdatePhaseRequest {
                        project_id: project.id.clone(),
                        phase: Some(unknown),
                        etag: String::new(),
                    },
                    &manager.token,
                ))
                .await,
            code,
            name,
        );
        if phase_id != "garbage" {
            refused(
                client
                    .delete_phase(authed(
                        proto::DeletePhaseRequest {
                            project_id: project.id.clone(),
                            phase_id,
                        },
                        &manager.token,
                    ))
                    .await,
                code,
                name,
            );
        }
    }
    refused(
        client
            .update_phase(authed(
                proto::UpdatePhaseRequest {
                    project_id: project.id.clone(),
                    phase: Some(renamed.clone()),
                    etag: String::new(),
                },
                &other_manager.token,
            ))
            .await,
        Code::PermissionDenied,
        "another project's manager changes a phase",
    );

    // Removed while it has not started.
    let removed = client
        .delete_phase(authed(
            proto::DeletePhaseRequest {
                project_id: project.id.clone(),
                phase_id: vote.id.clone(),
            },
            &manager.token,
        ))
        .await
        .expect("the manager removes a phase that has not started")
        .into_inner();
    assert_eq!(removed.phases.len(), 2);
    assert!(removed.phases.iter().all(|p| p.id != vote.id));

    // Three days on, Info has started: it stays.
    platform
        .shared
        .clock
        .advance(Duration::days(3))
        .expect("a manual clock");
    let manager = signed_in_again(&platform, &manager, &[], &["public-space"]);
    let status = refused(
        client
            .delete_phase(authed(
                proto::DeletePhaseRequest {
                    project_id: project.id.clone(),
                    phase_id: info.id.clone(),
                },
                &manager.token,
            ))
            .await,
        Code::FailedPrecondition,
        "removing a started phase",
    );
    assert!(
        status.message().contains("not started"),
        "{}",
        status.message()
    );
    let after = get_project(&platform, &project.id, Some(&manager))
        .await
        .expect("the project");
    assert_eq!(after.phases.len(), 2, "the started phase stays");

    exactly(&platform, "projects.phase.created.v1", 2).await;
    exactly(&platform, "projects.phase.changed.v1", 1).await;
    exactly(&platform, "projects.phase.deleted.v1", 1).await;
}

// --- milestones ------------------------------------------------------------

async fn managers_set_milestones(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let other_manager = platform.person(&[], &["public-space"]);
    let resident = platform.resident();
    let project = platform.project(&admin, &manager, 1, Some(60)).await;
    publish(&platform, &admin, &project.id).await;
    let other = platform.project(&admin, &other_manager, 1, Some(60)).await;
    let now = platform.now();
    let set = |who: &Who, project_id: &str, milestone: Option<proto::Milestone>| {
        let mut client = platform.client();
        let request = authed(
            proto::SetMilestoneRequest {
                project_id: project_id.to_owned(),
                milestone,
            },
            &who.token,
        );
        async move { client.set_milestone(request).await }
    };
    let milestone = |id: &str, title: &str, days: i64| proto::Milestone {
        id: id.to_owned(),
        title: Some(nl(title)),
        at: Some(ts(now + Duration::days(days))),
    };

    let created = set(
        &manager,
        &project.id,
        Some(milestone("", "Gemeenteraad", 10)),
    )
    .await
    .expect("the manager sets a milestone")
    .into_inner();
    assert_eq!(created.milestones.len(), 1);
    let council = created.milestones[0].clone();
    assert!(!council.id.is_empty(), "a new milestone gets an id");
    assert_eq!(text(council.title.as_ref()), "Gemeenteraad");

    let updated = set(
        &manager,
        &project.id,
        Some(milestone(&council.id, "Gemeenteraad beslist", 12)),
    )
    .await
    .expect("the same id replaces the milestone")
    .into_inner();
    assert_eq!(updated.milestones.len(), 1, "replaced, not added");
    assert_eq!(updated.milestones[0].id, council.id);
    assert_eq!(
        text(updated.milestones[0].title.as_ref()),
        "Gemeenteraad beslist"
    );
    assert_eq!(updated.milestones[0].at, Some(ts(now + Duration::days(12))));

    let elsewhere = set(
        &other_manager,
        &other.id,
        Some(milestone("", "Elders", 100)),
    )
    .await
    .expect("another manager sets a milestone on their project")
    .into_inner()
    .milestones[0]
        .clone();
    for (id, name) in [
        (uuid::Uuid::now_v7().to_string(), "an unknown milestone"),
        (elsewhere.id.clone(), "another project's milestone"),
    ] {
        refused(
            set(
                &manager,
                &project.id,
                Some(milestone(&id, "Overschreven", 20)),
            )
            .await,
            Code::NotFound,
            name,
        );
    }
    let untouched = get_project(&platform, &other.id, Some(&admin))
        .await
        .expect("the other project");
    assert_eq!(untouched.milestones, std::slice::from_ref(&elsewhere));
    let status = refused(
        set(&manager, &project.id, None).await,
        Code::InvalidArgument,
        "no milestone",
    );
    assert_eq!(fields(&status), ["milestone"]);
    let status = refused(
        set(
            &manager,
            &project.id,
            Some(proto::Milestone {
                at: None,
                ..milestone("", "Zonder datum", 1)
            }),
        )
        .await,
        Code::InvalidArgument,
        "a milestone without a date",
    );
    assert_eq!(fields(&status), ["milestone.at"]);
    for (who, name) in [
        (&other_manager, "another project's manager"),
        (&resident, "a resident"),
    ] {
        refused(
            set(who, &project.id, Some(milestone("", "Van buiten", 5))).await,
            Code::PermissionDenied,
            name,
        );
    }
    refused(
        platform
            .client()
            .set_milestone(Request::new(proto::SetMilestoneRequest {
                project_id: project.id.clone(),
                milestone: Some(milestone("", "Anoniem", 5)),
            }))
            .await,
        Code::Unauthenticated,
        "an anonymous milestone",
    );

    // milestone.approaching, once, when it is within seven days.
    let service = ProjectsService::new(ProjectsSettings::defaults());
    let state = service.state(&platform.server.running.context);
    scheduler::tick(&state).await.expect("a tick");
    exactly(&platform, "projects.milestone.approaching.v1", 0).await;
    platform
        .shared
        .clock
        .advance(Duration::days(6))
        .expect("a manual clock");
    for _ in 0..3 {
        scheduler::tick(&state).await.expect("a tick");
    }
    let approaching = exactly(&platform, "projects.milestone.approaching.v1", 1).await;
    let announced = decode_payload::<events::MilestoneApproaching>(&approaching[0])
        .expect("a MilestoneApproaching payload");
    assert_eq!(announced.project_id, project.id);
    assert_eq!(announced.milestone.expect("the milestone").id, council.id);

    // Removed (tokens minted after the clock moved).
    let admin = platform.admin();
    let remove = |who: Option<&Who>, milestone_id: &str| {
        let mut client = platform.client();
        let request = by(
            proto::DeleteMilestoneRequest {
                project_id: project.id.clone(),
                milestone_id: milestone_id.to_owned(),
            },
            who,
        );
        async move { client.delete_milestone(request).await }
    };
    let other_manager_now = platform.person(&[], &["public-space"]);
    refused(
        remove(Some(&other_manager_now), &council.id).await,
        Code::PermissionDenied,
        "someone else removes the milestone",
    );
    refused(
        remove(None, &council.id).await,
        Code::Unauthenticated,
        "anonymous removes the milestone",
    );
    refused(
        remove(Some(&admin), &elsewhere.id).await,
        Code::NotFound,
        "removing another project's milestone from this one",
    );
    let status = refused(
        remove(Some(&admin), "garbage").await,
        Code::InvalidArgument,
        "a malformed milestone id",
    );
    assert_eq!(fields(&status), ["milestone_id"]);
    let removed = remove(Some(&admin), &council.id)
        .await
        .expect("an admin removes the milestone")
        .into_inner();
    assert!(removed.milestones.is_empty());
    refused(
        remove(Some(&admin), &council.id).await,
        Code::NotFound,
        "removing it again",
    );

    exactly(&platform, "projects.milestone.set.v1", 3).await;
    exactly(&platform, "projects.milestone.deleted.v1", 1).await;
}

// --- updates ---------------------------------------------------------------

async fn the_team_posts_updates(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let other_manager = platform.person(&[], &["public-space"]);
    let contact = platform.person(&[], &[]);
    let officer = platform.person(&["communication_officer"], &[]);
    let decision_maker = platform.person(&["decision_maker"], &[]);
    let resident = platform.resident();
    let project = platform.project(&admin, &manager, 1, Some(30)).await;
    let draft = platform.project(&admin, &other_manager, 1, Some(30)).await;
    publish(&platform, &admin, &project.id).await;
    platform
        .client()
        .set_project_team(authed(
            proto::SetProjectTeamRequest {
                project_id: project.id.clone(),
                team: Some(proto::Team {
                    manager_ids: vec![manager.id.clone()],
                    communication_contact_id: contact.id.clone(),
                }),
            },
            &admin.token,
        ))
        .await
        .expect("the admin names a communication contact");
    let post = |who: Option<&Who>, title: &str, request_id: &str| {
        let mut client = platform.client();
        let request = by(
            proto::PostUpdateRequest {
                project_id: project.id.clone(),
                title: Some(nl(title)),
                body: Some(nl("Meer nieuws volgt")),
                request_id: request_id.to_owned(),
            },
            who,
        );
        async move { client.post_update(request).await }
    };

    let mut posted = Vec::new();
    for (who, title) in [
        (&contact, "Van het contact"),
        (&officer, "Van de communicatiedienst"),
        (&manager, "Van de projectleider"),
        (&admin, "Van het kernteam"),
    ] {
        let update = post(Some(who), title, "")
            .await
            .expect("the team and communication officers post updates")
            .into_inner();
        assert_eq!(update.author_id, who.id);
        assert_eq!(update.project_id, project.id);
        assert_eq!(text(update.title.as_ref()), title);
        assert_eq!(
            update.posted_at.expect("posted_at").seconds,
            platform.now().timestamp()
        );
        posted.push(update);
        platform
            .shared
            .clock
            .advance(Duration::minutes(1))
            .expect("a manual clock");
    }
    let first = post(Some(&contact), "Met een request id", "nieuws-5")
        .await
        .expect("an update with a request id")
        .into_inner();
    let retried = post(Some(&contact), "Met een request id", "nieuws-5")
        .await
        .expect("a retry")
        .into_inner();
    assert_eq!(retried.id, first.id, "a retry is the same update");
    assert_eq!(retried.title, first.title);
    assert_eq!(retried.author_id, first.author_id);
    posted.push(first);

    for (who, code, name) in [
        (
            Some(&other_manager),
            Code::PermissionDenied,
            "another project's manager",
        ),
        (
            Some(&decision_maker),
            Code::PermissionDenied,
            "a decision-maker",
        ),
        (Some(&resident), Code::PermissionDenied, "a resident"),
        (None, Code::Unauthenticated, "anonymous"),
    ] {
        let status = post(who, "Niet van ons", "")
            .await
            .expect_err("not theirs to post");
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
    let mut client = platform.client();
    let status = refused(
        client
            .post_update(authed(
                proto::PostUpdateRequest {
                    project_id: project.id.clone(),
                    title: Some(nl("Zonder tekst")),
                    body: None,
                    request_id: String::new(),
                },
                &manager.token,
            ))
            .await,
        Code::InvalidArgument,
        "an update without a body",
    );
    assert_eq!(fields(&status), ["body"]);
    refused(
        client
            .post_update(authed(
                proto::PostUpdateRequest {
                    project_id: uuid::Uuid::now_v7().to_string(),
                    title: Some(nl("Nergens")),
                    body: Some(nl("Nergens")),
                    request_id: String::new(),
                },
                &officer.token,
            ))
            .await,
        Code::NotFound,
        "an update on an unknown project",
    );

    // Newest first, page by page, each once.
    let newest_first: Vec<String> = posted.iter().rev().map(|u| u.id.clone()).collect();
    let list = |page_size: i32, page_token: &str, who: Option<&Who>| {
        let mut client = platform.client();
        let request = by(
            proto::ListUpdatesRequest {
                project_id: project.id.clone(),
                page_size,
                page_token: page_token.to_owned(),
            },
            who,
        );
        async move { client.list_updates(request).await }
    };
    let all = list(0, "", None)
        .await
        .expect("anyone lists a public project's updates")
        .into_inner();
    assert_eq!(
        all.updates.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        newest_first
    );
    assert!(all.next_page_token.is_empty());
    assert!(
        all.updates
            .windows(2)
            .all(|w| w[0].posted_at.map(|t| t.seconds) >= w[1].posted_at.map(|t| t.seconds)),
        "newest first"
    );
    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(2, &token, Some(&resident))
            .await
            .expect("a page")
            .into_inner();
        pages += 1;
        assert!(page.updates.len() <= 2);
        paged.extend(page.updates.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, newest_first, "pages in order, each update once");
    assert_eq!(pages, 3);

    let status = refused(
        list(-1, "", None).await,
        Code::InvalidArgument,
        "a negative page size",
    );
    assert_eq!(fields(&status), ["page_size"]);
    let mut hidden = client
        .list_updates(Request::new(proto::ListUpdatesRequest {
            project_id: draft.id.clone(),
            page_size: 0,
            page_token: String::new(),
        }))
        .await;
    refused(
        hidden,
        Code::NotFound,
        "the updates of a draft, anonymously",
    );
    hidden = client
        .list_updates(authed(
            proto::ListUpdatesRequest {
                project_id: draft.id.clone(),
                page_size: 0,
                page_token: String::new(),
            },
            &other_manager.token,
        ))
        .await;
    assert!(
        hidden
            .expect("its team lists a draft's updates")
            .into_inner()
            .updates
            .is_empty()
    );

    let announced = exactly(&platform, "projects.update.posted.v1", posted.len()).await;
    let first_announced = decode_payload::<events::UpdatePosted>(&announced[0])
        .expect("an UpdatePosted payload")
        .update
        .expect("the update");
    assert_eq!(first_announced, posted[0]);
}

// --- timeline --------------------------------------------------------------

async fn the_timeline_orders_phases_and_milestones(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let resident = platform.resident();
    let project = platform.project(&admin, &manager, 1, Some(10)).await;
    let now = platform.now();
    let mut client = platform.client();
    client
        .create_phase(authed(
            proto::CreatePhaseRequest {
                project_id: project.id.clone(),
                phase: Some(phase(
                    "Stemmen",
                    now + Duration::days(20),
                    Some(now + Duration::days(30)),
                    single_vote(),
                )),
            },
            &manager.token,
        ))
        .await
        .expect("a second phase");
    for (title, days) in [("Besluit", 40), ("Infoavond", 5), ("Resultaten", 15)] {
        client
            .set_milestone(authed(
                proto::SetMilestoneRequest {
                    project_id: project.id.clone(),
                    milestone: Some(proto::Milestone {
                        id: String::new(),
                        title: Some(nl(title)),
                        at: Some(ts(now + Duration::days(days))),
                    }),
                },
                &manager.token,
            ))
            .await
            .expect("a milestone");
    }
    let timeline_of = |id: &str, who: Option<&Who>| {
        let mut client = platform.client();
        let request = by(
            proto::GetTimelineRequest {
                project_id: id.to_owned(),
            },
            who,
        );
        async move { client.get_timeline(request).await }
    };

    // A draft's timeline: the team only.
    timeline_of(&project.id, Some(&manager))
        .await
        .expect("the team sees a draft's timeline");
    refused(
        timeline_of(&project.id, None).await,
        Code::NotFound,
        "anonymous and a draft's timeline",
    );
    refused(
        timeline_of(&project.id, Some(&resident)).await,
        Code::NotFound,
        "a resident and a draft's timeline",
    );

    publish(&platform, &admin, &project.id).await;
    let timeline = timeline_of(&project.id, None)
        .await
        .expect("anyone sees a public project's timeline")
        .into_inner();
    use proto::timeline_entry::Entry;
    let entries: Vec<(&str, &str)> = timeline
        .entries
        .iter()
        .map(|e| match e.entry.as_ref().expect("an entry") {
            Entry::Phase(p) => ("phase", text(p.title.as_ref())),
            Entry::Milestone(m) => ("milestone", text(m.title.as_ref())),
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("phase", "Ideeën"),
            ("milestone", "Infoavond"),
            ("milestone", "Resultaten"),
            ("phase", "Stemmen"),
            ("milestone", "Besluit"),
        ]
    );
    let at: Vec<i64> = timeline
        .entries
        .iter()
        .map(|e| e.at.expect("at").seconds)
        .collect();
    assert_eq!(
        at,
        [1, 5, 15, 20, 40].map(|d| (now + Duration::days(d)).timestamp()),
        "each entry at its time, in order"
    );

    // Hidden again when staff-only.
    update_project(
        &platform,
        proto::UpdateProjectRequest {
            id: project.id.clone(),
            visibility: proto::Visibility::Staff as i32,
            update_mask: mask(&["visibility"]),
            ..Default::default()
        },
        Some(&manager),
    )
    .await
    .expect("staff only");
    refused(
        timeline_of(&project.id, Some(&resident)).await,
        Code::NotFound,
        "a resident and a staff-only timeline",
    );
    refused(
        timeline_of(&uuid::Uuid::now_v7().to_string(), Some(&admin)).await,
        Code::NotFound,
        "an unknown project's timeline",
    );
    let status = refused(
        timeline_of("garbage", Some(&admin)).await,
        Code::InvalidArgument,
        "a malformed project id",
    );
    assert_eq!(fields(&status), ["project_id"]);
}

// --- what a write answers --------------------------------------------------

/// A write answers with the resource as it was stored: a later read, and a
/// retry with the same request id, return exactly what the write returned,
/// timestamps included.
async fn writes_answer_with_what_reads_return(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let staff = platform.person(&[], &["public-space"]);
    let mut client = platform.client();
    let mut differences = Vec::new();
    let mut compare = |what: &str, written: String, read: String| {
        if written != read {
            differences.push(format!("{what}: written {written}, read {read}"));
        }
    };

    let current = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .expect("the settings")
        .into_inner();
    let updated = client
        .update_platform_settings(authed(
            proto::UpdatePlatformSettingsRequest {
                settings: Some(current.clone()),
                etag: current.etag.clone(),
            },
            &admin.token,
        ))
        .await
        .expect("the settings replaced")
        .into_inner();
    let read = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .expect("the settings read")
        .into_inner();
    compare(
        "UpdatePlatformSettings updated_at",
        format!("{:?}", updated.updated_at),
        format!("{:?}", read.updated_at),
    );

    let submitted = submit(
        &platform,
        &staff,
        proposal(&platform, "public-space", "once"),
    )
    .await;
    let retried = submit(
        &platform,
        &staff,
        proposal(&platform, "public-space", "once"),
    )
    .await;
    compare(
        "SubmitProposal retried with its request_id, submitted_at",
        format!("{:?}", submitted.submitted_at),
        format!("{:?}", retried.submitted_at),
    );
    let approved = review(
        &platform,
        &admin,
        &submitted.id,
        proto::ReviewDecision::Approve,
        "go",
    )
    .await
    .expect("approved");
    let decided = approved.proposal.expect("the proposal");
    let read = client
        .get_proposal(authed(
            proto::GetProposalRequest {
                id: submitted.id.clone(),
            },
            &admin.token,
        ))
        .await
        .expect("the proposal read")
        .into_inner();
    compare(
        "ReviewProposal decided_at",
        format!("{:?}", decided.decided_at),
        format!("{:?}", read.decided_at),
    );
    let project = approved.project.expect("the project");
    let read = get_project(&platform, &project.id, Some(&admin))
        .await
        .expect("the project read");
    compare(
        "ReviewProposal's project created_at",
        format!("{:?}", project.created_at),
        format!("{:?}", read.created_at),
    );

    let published = publish(&platform, &admin, &project.id).await;
    let read = get_project(&platform, &project.id, Some(&admin))
        .await
        .expect("the project read");
    compare(
        "PublishProject published_at",
        format!("{:?}", published.published_at),
        format!("{:?}", read.published_at),
    );

    let post = || {
        authed(
            proto::PostUpdateRequest {
                project_id: project.id.clone(),
                title: Some(nl("Nieuws")),
                body: Some(nl("Meer nieuws")),
                request_id: "once".to_owned(),
            },
            &admin.token,
        )
    };
    let posted = client
        .post_update(post())
        .await
        .expect("an update")
        .into_inner();
    let retried = client
        .post_update(post())
        .await
        .expect("the update retried")
        .into_inner();
    compare(
        "PostUpdate retried with its request_id, posted_at",
        format!("{:?}", posted.posted_at),
        format!("{:?}", retried.posted_at),
    );
    let listed = client
        .list_updates(Request::new(proto::ListUpdatesRequest {
            project_id: project.id.clone(),
            page_size: 0,
            page_token: String::new(),
        }))
        .await
        .expect("the updates")
        .into_inner();
    compare(
        "PostUpdate posted_at, as listed",
        format!("{:?}", posted.posted_at),
        format!("{:?}", listed.updates[0].posted_at),
    );

    assert!(
        differences.is_empty(),
        "{backend:?}: writes answered otherwise than reads:\n{}",
        differences.join("\n")
    );
}

// --- the cap and request ids, beyond the single call -----------------------

async fn set_cap(platform: &Platform, admin: &Who, cap: u32) {
    let mut client = platform.client();
    let mut settings = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .expect("the settings")
        .into_inner();
    settings.max_active_projects = cap;
    let etag = settings.etag.clone();
    client
        .update_platform_settings(authed(
            proto::UpdatePlatformSettingsRequest {
                settings: Some(settings),
                etag,
            },
            &admin.token,
        ))
        .await
        .expect("the cap set");
}

/// The cap bounds the published projects whose last phase has not ended
/// (PlatformSettings.max_active_projects), however a project becomes
/// active: by being published, or by a new or longer phase that reopens a
/// published project whose phases had all ended.
async fn phases_cannot_reopen_a_project_past_the_cap(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    set_cap(&platform, &admin, 1).await;
    let running = platform.project(&admin, &manager, 1, Some(30)).await;
    publish(&platform, &admin, &running.id).await;
    let mut ended = Vec::new();
    for _ in 0..2 {
        let project = platform.project(&admin, &manager, -20, Some(-10)).await;
        let project = publish(&platform, &admin, &project.id).await;
        assert!(
            !project.active,
            "its only phase has ended: it does not count"
        );
        ended.push(project);
    }
    let now = platform.now();
    let mut client = platform.client();

    // One gets a new phase, the other's phase is extended into the future.
    let added = client
        .create_phase(authed(
            proto::CreatePhaseRequest {
                project_id: ended[0].id.clone(),
                phase: Some(phase(
                    "Nog een ronde",
                    now + Duration::days(1),
                    Some(now + Duration::days(10)),
                    ideation(),
                )),
            },
            &manager.token,
        ))
        .await;
    let mut extended_phase = ended[1].phases[0].clone();
    extended_phase.ends_at = Some(ts(now + Duration::days(10)));
    let extended = client
        .update_phase(authed(
            proto::UpdatePhaseRequest {
                project_id: ended[1].id.clone(),
                phase: Some(extended_phase),
                etag: String::new(),
            },
            &manager.token,
        ))
        .await;
    let active = list_project_ids(
        &platform,
        proto::ListProjectsRequest {
            active_only: true,
            ..Default::default()
        },
        Some(&admin),
    )
    .await
    .0;
    let mut problems = Vec::new();
    for (what, outcome) in [
        ("CreatePhase", added.map(|_| ())),
        ("UpdatePhase", extended.map(|_| ())),
    ] {
        match outcome {
            Err(status) if status.code() == Code::FailedPrecondition => {}
            other => problems.push(format!(
                "{what} reopening a published project past the cap of 1: {other:?} (expected FAILED_PRECONDITION)"
            )),
        }
    }
    if active.len() > 1 {
        problems.push(format!(
            "{} projects are active under a cap of 1",
            active.len()
        ));
    }
    assert!(problems.is_empty(), "{backend:?}:\n{}", problems.join("\n"));
}

/// A request id makes a retry safe. It is the caller's, for the project
/// named: it never answers with someone else's proposal, nor with an update
/// of another project.
async fn request_ids_are_the_callers_own(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let alice = platform.person(&[], &["public-space"]);
    let bob = platform.person(&[], &["public-space"]);
    let officer = platform.person(&["communication_officer"], &[]);
    let mut problems = Vec::new();

    let alices = submit(
        &platform,
        &alice,
        proposal(&platform, "public-space", "eerste"),
    )
    .await;
    let mut bobs = proposal(&platform, "public-space", "eerste");
    bobs.title = Some(nl("Bobs voorstel"));
    match platform
        .client()
        .submit_proposal(authed(bobs, &bob.token))
        .await
    {
        Ok(answer) if answer.get_ref().id == alices.id => problems.push(
            "Bob's SubmitProposal with Alice's request id answered with Alice's proposal \
             (which GetProposal refuses him) and proposed nothing"
                .to_owned(),
        ),
        Ok(_) => {}
        Err(status) if status.code() == Code::AlreadyExists => {}
        Err(status) => problems.push(format!(
            "Bob's SubmitProposal with Alice's request id: {status:?}"
        )),
    }

    let manager = platform.person(&[], &["public-space"]);
    let first = platform.project(&admin, &manager, 1, Some(30)).await;
    let second = platform.project(&admin, &manager, 1, Some(30)).await;
    let post = |project_id: &str| {
        authed(
            proto::PostUpdateRequest {
                project_id: project_id.to_owned(),
                title: Some(nl("Nieuws")),
                body: Some(nl("Meer nieuws")),
                request_id: "nieuws-1".to_owned(),
            },
            &officer.token,
        )
    };
    let on_first = platform
        .client()
        .post_update(post(&first.id))
        .await
        .expect("an update on the first project")
        .into_inner();
    match platform.client().post_update(post(&second.id)).await {
        Ok(answer) => {
            let answer = answer.into_inner();
            if answer.project_id != second.id {
                problems.push(format!(
                    "PostUpdate on {} with a request id used on {} answered with the update {} of {} and posted nothing",
                    second.id, first.id, on_first.id, answer.project_id
                ));
            }
        }
        Err(status) if status.code() == Code::AlreadyExists => {}
        Err(status) => problems.push(format!(
            "PostUpdate on another project with a used request id: {status:?}"
        )),
    }
    assert!(problems.is_empty(), "{backend:?}:\n{}", problems.join("\n"));
}

/// Retries that overlap (a client that timed out and tried again) are
/// retries all the same: one proposal, one update, and every call answered
/// with it.
async fn overlapping_retries_make_one(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let staff = platform.person(&[], &["public-space"]);
    let request = proposal(&platform, "public-space", "tegelijk");
    let submits = (0..8).map(|_| {
        let mut client = platform.client();
        let request = authed(request.clone(), &staff.token);
        tokio::spawn(async move { client.submit_proposal(request).await })
    });
    let outcomes = futures_util::future::join_all(submits).await;
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for outcome in outcomes {
        match outcome.expect("the call ran") {
            Ok(answer) => {
                ids.insert(answer.into_inner().id);
            }
            Err(status) => problems.push(format!("SubmitProposal retried: {status:?}")),
        }
    }
    if ids.len() > 1 {
        problems.push(format!(
            "SubmitProposal retried made {} proposals",
            ids.len()
        ));
    }

    let manager = platform.person(&[], &["public-space"]);
    let project = platform.project(&admin, &manager, 1, Some(30)).await;
    let posts = (0..8).map(|_| {
        let mut client = platform.client();
        let request = authed(
            proto::PostUpdateRequest {
                project_id: project.id.clone(),
                title: Some(nl("Nieuws")),
                body: Some(nl("Meer nieuws")),
                request_id: "tegelijk".to_owned(),
            },
            &manager.token,
        );
        tokio::spawn(async move { client.post_update(request).await })
    });
    let outcomes = futures_util::future::join_all(posts).await;
    let mut ids = BTreeSet::new();
    for outcome in outcomes {
        match outcome.expect("the call ran") {
            Ok(answer) => {
                ids.insert(answer.into_inner().id);
            }
            Err(status) => problems.push(format!("PostUpdate retried: {status:?}")),
        }
    }
    if ids.len() > 1 {
        problems.push(format!("PostUpdate retried made {} updates", ids.len()));
    }
    assert!(problems.is_empty(), "{backend:?}:\n{}", problems.join("\n"));
}

inspraak_host::on_both_databases!(
    settings_are_read_publicly_and_replaced_by_admins,
    department_staff_propose_projects,
    the_core_team_reviews_proposals,
    proposals_are_listed_by_who_may_see_them,
    admins_create_folders_and_anyone_lists_them,
    who_sees_a_project,
    projects_are_listed_filtered_and_paged,
    managers_update_their_projects,
    projects_are_published_unpublished_and_archived,
    admins_set_the_project_team,
    managers_plan_phases,
    managers_set_milestones,
    the_team_posts_updates,
    the_timeline_orders_phases_and_milestones,
    writes_answer_with_what_reads_return,
    phases_cannot_reopen_a_project_past_the_cap,
    request_ids_are_the_callers_own,
    overlapping_retries_make_one,
);
