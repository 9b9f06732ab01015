//! Statuses, official feedback, bulk answers, overdue inputs, proposals'
//! expiry, blocked people and the listing's filters and sorts, through the
//! real gRPC server on PostgreSQL and on SQLite.

mod support;

use std::collections::HashMap;

use chrono::Duration;
use inspraak_bus::decode_payload;
use inspraak_contributions::counters::{self, Totals};
use inspraak_contributions::deadlines;
use inspraak_contributions::store::entities::{inputs, status_counts};
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use proto::InputStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use support::{Backend, Platform, Who, ideation, phase, project, proposals, refused};
use tonic::{Code, Response};
use tonic_types::StatusExt;
use uuid::Uuid;

// --- helpers ---------------------------------------------------------------

/// A published project managed by `manager` with one open ideation phase,
/// known to the projection.
async fn open_project(platform: &Platform, manager: &Who) -> projects::Project {
    let now = platform.now();
    let plan = project(
        manager,
        vec![phase(
            now - Duration::days(1),
            Some(now + Duration::days(60)),
            ideation(),
            Permission::Registered,
        )],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    plan
}

async fn post(
    platform: &Platform,
    plan: &projects::Project,
    who: &Who,
    title: &str,
) -> proto::Input {
    post_with(platform, plan, who, title, false, &["groen"]).await
}

async fn post_with(
    platform: &Platform,
    plan: &projects::Project,
    who: &Who,
    title: &str,
    anonymous: bool,
    topics: &[&str],
) -> proto::Input {
    platform
        .client()
        .create_input(platform.by(
            proto::CreateInputRequest {
                project_id: plan.id.clone(),
                phase_id: plan.phases[0].id.clone(),
                title: title.to_owned(),
                body: "Een voorstel voor de buurt".to_owned(),
                topics: topics.iter().map(|t| (*t).to_owned()).collect(),
                anonymous,
                ..Default::default()
            },
            Some(who),
        ))
        .await
        .expect("post an input")
        .into_inner()
}

fn body(text: &str) -> HashMap<String, String> {
    HashMap::from([
        ("nl".to_owned(), text.to_owned()),
        ("en".to_owned(), format!("{text} (en)")),
    ])
}

fn feedback(input: &proto::Input, status: InputStatus) -> proto::PublishFeedbackRequest {
    proto::PublishFeedbackRequest {
        input_id: input.id.clone(),
        body: body("Dank u, we bekijken dit"),
        signed_by: "Dienst Mobiliteit".to_owned(),
        status: status as i32,
    }
}

fn set_status(input: &proto::Input, status: InputStatus) -> proto::SetStatusRequest {
    proto::SetStatusRequest {
        input_id: input.id.clone(),
        status: status as i32,
        etag: String::new(),
    }
}

async fn get(platform: &Platform, id: &str, who: &Who) -> proto::Input {
    platform
        .client()
        .get_input(platform.by(proto::GetInputRequest { id: id.to_owned() }, Some(who)))
        .await
        .expect("get the input")
        .into_inner()
}

async fn history(platform: &Platform, id: &str, who: &Who) -> Vec<proto::HistoryEntry> {
    platform
        .answers()
        .get_history(platform.by(
            proto::GetHistoryRequest {
                input_id: id.to_owned(),
            },
            Some(who),
        ))
        .await
        .expect("the history")
        .into_inner()
        .entries
}

fn kinds(entries: &[proto::HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.kind.as_str()).collect()
}

/// `who` reacts UP on `input`.
async fn react_up(
    platform: &Platform,
    input: String,
    who: &Who,
) -> Result<Response<proto::ReactionSummary>, tonic::Status> {
    platform
        .discussion()
        .react(platform.by(
            proto::ReactRequest {
                input_id: input,
                direction: proto::ReactionDirection::Up as i32,
            },
            Some(who),
        ))
        .await
}

async fn stats(platform: &Platform, project_id: &str) -> Totals {
    let project = Uuid::parse_str(project_id).expect("an id");
    counters::totals(&platform.server.running.context.db, project, Uuid::nil())
        .await
        .expect("read statistics")
        .expect("the project has statistics")
}

async fn count_of_status(platform: &Platform, project_id: &str, status: &str) -> i64 {
    status_counts::Entity::find_by_id((
        Uuid::parse_str(project_id).expect("an id"),
        Uuid::nil(),
        status.to_owned(),
    ))
    .one(&platform.server.running.context.db)
    .await
    .expect("read status counts")
    .map_or(0, |c| c.count)
}

async fn events_of<M: prost::Name + Default>(platform: &Platform, kind: &str) -> Vec<M> {
    platform
        .shared
        .events()
        .await
        .iter()
        .filter(|e| e.r#type == kind)
        .map(|e| decode_payload::<M>(e).expect("a payload of the expected type"))
        .collect()
}

fn fields(status: &tonic::Status) -> Vec<String> {
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

// --- scenarios -------------------------------------------------------------

/// Staff move statuses only along allowed transitions; each move is in the
/// history with who did it, in the counts and on the bus; nobody else
/// moves them.
async fn statuses_follow_the_allowed_transitions(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let other_manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let elsewhere = open_project(&platform, &other_manager).await;
    let input = post(&platform, &plan, &author, "Een bankje op het plein").await;
    assert_eq!(count_of_status(&platform, &plan.id, "proposed").await, 1);

    let answers = platform.answers();
    for (who, code, what) in [
        (&author, Code::PermissionDenied, "the author"),
        (
            &other_manager,
            Code::PermissionDenied,
            "another project's manager",
        ),
    ] {
        refused(
            answers
                .clone()
                .set_status(platform.by(set_status(&input, InputStatus::Accepted), Some(who)))
                .await,
            code,
            what,
        );
    }
    refused(
        answers
            .clone()
            .set_status(platform.by(set_status(&input, InputStatus::Accepted), None))
            .await,
        Code::Unauthenticated,
        "signed out",
    );
    let system = refused(
        answers
            .clone()
            .set_status(platform.by(
                set_status(&input, InputStatus::ThresholdReached),
                Some(&manager),
            ))
            .await,
        Code::InvalidArgument,
        "a status only the service sets",
    );
    assert_eq!(fields(&system), vec!["status"]);
    let stale = proto::SetStatusRequest {
        etag: "input-v0".to_owned(),
        ..set_status(&input, InputStatus::Accepted)
    };
    refused(
        answers
            .clone()
            .set_status(platform.by(stale, Some(&manager)))
            .await,
        Code::Aborted,
        "a stale etag",
    );
    assert_eq!(
        get(&platform, &input.id, &author).await.status,
        InputStatus::Proposed as i32
    );

    for next in [
        InputStatus::UnderConsideration,
        InputStatus::Accepted,
        InputStatus::Implemented,
    ] {
        let moved = answers
            .clone()
            .set_status(platform.by(set_status(&input, next), Some(&manager)))
            .await
            .expect("an allowed move")
            .into_inner();
        assert_eq!(moved.status, next as i32);
    }
    let refusal = refused(
        answers
            .clone()
            .set_status(platform.by(set_status(&input, InputStatus::Rejected), Some(&manager)))
            .await,
        Code::FailedPrecondition,
        "implemented to rejected",
    );
    assert!(
        refusal.message().contains("from implemented to rejected"),
        "{}",
        refusal.message()
    );
    // A manager of another project cannot even use its own project's
    // rights here; an admin can.
    let admin = platform.admin();
    answers
        .clone()
        .set_status(platform.by(set_status(&input, InputStatus::Accepted), Some(&admin)))
        .await
        .expect("an admin moves it back");

    let entries = history(&platform, &input.id, &author).await;
    assert_eq!(
        kinds(&entries),
        vec![
            "created",
            "status_changed",
            "status_changed",
            "status_changed",
            "status_changed"
        ]
    );
    assert_eq!(entries[1].actor_id, manager.id);
    assert_eq!(entries[4].actor_id, admin.id);
    assert_eq!(entries[3].from_status, InputStatus::Accepted as i32);
    assert_eq!(entries[3].to_status, InputStatus::Implemented as i32);
    assert_eq!(count_of_status(&platform, &plan.id, "proposed").await, 0);
    assert_eq!(count_of_status(&platform, &plan.id, "accepted").await, 1);
    assert_eq!(count_of_status(&platform, &plan.id, "implemented").await, 0);
    assert_eq!(
        count_of_status(&platform, &elsewhere.id, "accepted").await,
        0
    );

    let changes: Vec<events::InputStatusChanged> = platform
        .shared
        .wait_for_events(
            "contributions.input.status_changed.v1",
            4,
            std::time::Duration::from_secs(10),
        )
        .await
        .iter()
        .map(|e| decode_payload(e).expect("a status change"))
        .collect();
    assert_eq!(changes.len(), 4, "one event per move, none for refusals");
    assert_eq!(changes[2].from_status, "accepted");
    assert_eq!(changes[2].to_status, "implemented");
    assert_eq!(changes[2].actor_id, manager.id);
    assert_eq!(changes[0].project_id, plan.id);
    assert!(changes.iter().all(|c| !c.with_feedback));
}

/// Feedback with a status in one act; the author can no longer edit; edits
/// keep every revision; the first answer is counted with its time.
async fn feedback_is_one_act_and_keeps_its_revisions(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let input = post(&platform, &plan, &author, "Een speeltuin in het park").await;
    platform.advance(Duration::hours(5));

    let answers = platform.answers();
    let bad = proto::PublishFeedbackRequest {
        body: HashMap::from([("Nederlands".to_owned(), "tekst".to_owned())]),
        signed_by: "x".to_owned(),
        ..feedback(&input, InputStatus::Accepted)
    };
    let status = refused(
        answers
            .clone()
            .publish_feedback(platform.by(bad, Some(&manager)))
            .await,
        Code::InvalidArgument,
        "a bad locale and signature",
    );
    assert_eq!(fields(&status), vec!["body[Nederlands]", "signed_by"]);
    refused(
        answers
            .clone()
            .publish_feedback(platform.by(feedback(&input, InputStatus::Accepted), Some(&author)))
            .await,
        Code::PermissionDenied,
        "the author answering themselves",
    );
    assert!(!get(&platform, &input.id, &author).await.feedback_given);

    let published = answers
        .clone()
        .publish_feedback(platform.by(feedback(&input, InputStatus::Accepted), Some(&manager)))
        .await
        .expect("feedback with a status")
        .into_inner();
    let answered = published.input.expect("the input");
    let first = published.feedback.expect("the feedback");
    assert!(answered.feedback_given);
    assert_eq!(answered.status, InputStatus::Accepted as i32);
    assert_eq!(first.revision, 1);
    assert_eq!(
        first.body.get("nl").map(String::as_str),
        Some("Dank u, we bekijken dit")
    );

    let edit = platform
        .client()
        .update_input(platform.by(
            proto::UpdateInputRequest {
                id: input.id.clone(),
                title: "Een andere titel".to_owned(),
                update_mask: vec!["title".to_owned()],
                ..Default::default()
            },
            Some(&author),
        ))
        .await;
    refused(edit, Code::FailedPrecondition, "editing after feedback");

    let updated = answers
        .clone()
        .update_feedback(platform.by(
            proto::UpdateFeedbackRequest {
                feedback_id: first.id.clone(),
                body: body("Goedgekeurd voor 2027"),
                signed_by: String::new(),
                revision: 1,
            },
            Some(&manager),
        ))
        .await
        .expect("an edit")
        .into_inner();
    assert_eq!(updated.revision, 2);
    assert_eq!(updated.signed_by, "Dienst Mobiliteit");
    refused(
        answers
            .clone()
            .update_feedback(platform.by(
                proto::UpdateFeedbackRequest {
                    feedback_id: first.id.clone(),
                    body: body("Te laat"),
                    signed_by: String::new(),
                    revision: 1,
                },
                Some(&manager),
            ))
            .await,
        Code::Aborted,
        "an edit of a stale revision",
    );

    let listed = answers
        .clone()
        .list_feedback(platform.by(
            proto::ListFeedbackRequest {
                input_id: input.id.clone(),
            },
            None,
        ))
        .await
        .expect("anyone reads the feedback of a public input")
        .into_inner()
        .feedback;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revision, 2);
    assert_eq!(
        listed[0].body.get("nl").map(String::as_str),
        Some("Goedgekeurd voor 2027")
    );
    assert_eq!(listed[0].revisions.len(), 1);
    assert_eq!(
        listed[0].revisions[0].body.get("nl").map(String::as_str),
        Some("Dank u, we bekijken dit")
    );

    assert_eq!(
        kinds(&history(&platform, &input.id, &author).await),
        vec![
            "created",
            "feedback_published",
            "status_changed",
            "feedback_edited"
        ]
    );
    let totals = stats(&platform, &plan.id).await;
    assert_eq!((totals.input_count, totals.answered_count), (1, 1));

    let published: Vec<events::FeedbackPublished> = {
        platform
            .shared
            .wait_for_events(
                "contributions.feedback.published.v1",
                2,
                std::time::Duration::from_secs(10),
            )
            .await;
        events_of(&platform, "contributions.feedback.published.v1").await
    };
    assert_eq!(published.len(), 2);
    assert!(!published[0].edited && published[1].edited);
    assert_eq!(published[0].status, "accepted");
    assert_eq!(published[0].answer_seconds, 5 * 3600);
    assert!(!published[0].late);
    assert_eq!(published[0].input_author_id, author.id);
    // The status set with the feedback says so: one act, told once.
    let changes: Vec<events::InputStatusChanged> =
        events_of(&platform, "contributions.input.status_changed.v1").await;
    assert_eq!(changes.len(), 1);
    assert!(changes[0].with_feedback);
}

/// A bulk answer applies to every input named or to none.
async fn bulk_answers_are_all_or_nothing(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let other = open_project(&platform, &platform.resident()).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            post(&platform, &plan, &author, &format!("Idee nummer {n}"))
                .await
                .id,
        );
    }
    let stranger = post(&platform, &other, &author, "Elders").await;
    let answers = platform.answers();
    let bulk = |input_ids: Vec<String>, status: InputStatus| proto::BulkAnswerRequest {
        project_id: plan.id.clone(),
        input_ids,
        body: body("Samengevoegd met het mobiliteitsplan"),
        signed_by: "Kernteam".to_owned(),
        status: status as i32,
    };

    let foreign = refused(
        answers
            .clone()
            .bulk_answer(platform.by(
                bulk(
                    vec![ids[0].clone(), ids[1].clone(), stranger.id.clone()],
                    InputStatus::Answered,
                ),
                Some(&manager),
            ))
            .await,
        Code::InvalidArgument,
        "an input of another project",
    );
    assert_eq!(fields(&foreign), vec!["input_ids[2]"]);
    let twice = refused(
        answers
            .clone()
            .bulk_answer(platform.by(
                bulk(vec![ids[0].clone(), ids[0].clone()], InputStatus::Answered),
                Some(&manager),
            ))
            .await,
        Code::InvalidArgument,
        "an input named twice",
    );
    assert_eq!(fields(&twice), vec!["input_ids[1]"]);
    let over_cap: Vec<String> = (0..201).map(|_| Uuid::now_v7().to_string()).collect();
    refused(
        answers
            .clone()
            .bulk_answer(platform.by(bulk(over_cap, InputStatus::Answered), Some(&manager)))
            .await,
        Code::InvalidArgument,
        "over the cap",
    );
    // One input cannot make the move: nothing is answered.
    answers
        .clone()
        .set_status(platform.by(
            set_status(
                &get(&platform, &ids[2], &author).await,
                InputStatus::Rejected,
            ),
            Some(&manager),
        ))
        .await
        .expect("reject one");
    refused(
        answers
            .clone()
            .bulk_answer(platform.by(bulk(ids.clone(), InputStatus::Accepted), Some(&manager)))
            .await,
        Code::FailedPrecondition,
        "a rejected input cannot be accepted directly",
    );
    refused(
        answers
            .clone()
            .bulk_answer(platform.by(bulk(ids.clone(), InputStatus::Answered), Some(&author)))
            .await,
        Code::PermissionDenied,
        "a resident",
    );
    for id in &ids {
        assert!(
            !get(&platform, id, &author).await.feedback_given,
            "nothing answered"
        );
    }
    assert!(
        events_of::<events::FeedbackPublished>(&platform, "contributions.feedback.published.v1")
            .await
            .is_empty()
    );

    let done = answers
        .clone()
        .bulk_answer(platform.by(
            bulk(ids[..2].to_vec(), InputStatus::Answered),
            Some(&manager),
        ))
        .await
        .expect("a bulk answer")
        .into_inner();
    assert_eq!(done.answers.len(), 2);
    for id in &ids[..2] {
        let input = get(&platform, id, &author).await;
        assert!(input.feedback_given);
        assert_eq!(input.status, InputStatus::Answered as i32);
    }
    assert_eq!(stats(&platform, &plan.id).await.answered_count, 2);
    assert_eq!(count_of_status(&platform, &plan.id, "answered").await, 2);
    assert_eq!(count_of_status(&platform, &plan.id, "rejected").await, 1);
}

/// Past the charter's target without feedback an input is overdue: listed
/// most overdue first, counted, and announced exactly once even by two
/// concurrent scans.
async fn overdue_inputs_are_listed_counted_and_announced_once(backend: Backend) {
    let platform = Platform::start(backend).await;
    platform.settings_changed(14, 1).await;
    let manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let first = post(&platform, &plan, &author, "Het eerste idee").await;
    platform.advance(Duration::hours(1));
    let second = post(&platform, &plan, &author, "Het tweede idee").await;
    let third = post(&platform, &plan, &author, "Het derde idee").await;
    platform
        .answers()
        .publish_feedback(platform.by(feedback(&third, InputStatus::Unspecified), Some(&manager)))
        .await
        .expect("answer the third in time");

    let state = platform.state();
    assert_eq!(
        deadlines::scan(&state).await.expect("a scan"),
        0,
        "nothing due yet"
    );
    platform.advance(Duration::days(14));
    let overdue = |who: &Who| {
        let request = platform.by(
            proto::ListOverdueRequest {
                project_id: plan.id.clone(),
                page_size: 1,
                page_token: String::new(),
            },
            Some(who),
        );
        let mut answers = platform.answers();
        async move { answers.list_overdue(request).await }
    };
    refused(overdue(&author).await, Code::PermissionDenied, "a resident");
    let page = overdue(&manager)
        .await
        .expect("the overdue list")
        .into_inner();
    assert_eq!(page.total, 2);
    assert_eq!(page.inputs.len(), 1);
    assert_eq!(page.inputs[0].id, first.id, "the most overdue first");
    assert!(page.inputs[0].overdue);
    let next = platform
        .answers()
        .list_overdue(platform.by(
            proto::ListOverdueRequest {
                project_id: plan.id.clone(),
                page_size: 1,
                page_token: page.next_page_token.clone(),
            },
            Some(&manager),
        ))
        .await
        .expect("the second page")
        .into_inner();
    assert_eq!(
        next.inputs.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        vec![second.id.clone()]
    );
    assert!(next.next_page_token.is_empty());

    // Two replicas scanning at once announce each input once.
    let (a, b) = tokio::join!(deadlines::scan(&state), deadlines::scan(&state));
    assert_eq!(a.expect("scan a") + b.expect("scan b"), 2);
    assert_eq!(deadlines::scan(&state).await.expect("a rescan"), 0);
    let announced: Vec<events::InputOverdue> = {
        platform
            .shared
            .wait_for_events(
                "contributions.input.overdue.v1",
                2,
                std::time::Duration::from_secs(10),
            )
            .await;
        events_of(&platform, "contributions.input.overdue.v1").await
    };
    let mut ids: Vec<String> = announced.iter().map(|e| e.input_id.clone()).collect();
    ids.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(stats(&platform, &plan.id).await.overdue_count, 2);

    // Answering an overdue input takes it off the list and the count; its
    // feedback says it was late.
    platform
        .answers()
        .publish_feedback(platform.by(feedback(&first, InputStatus::Unspecified), Some(&manager)))
        .await
        .expect("a late answer");
    assert_eq!(stats(&platform, &plan.id).await.overdue_count, 1);
    assert_eq!(
        overdue(&manager)
            .await
            .expect("the list")
            .into_inner()
            .total,
        1
    );
    let late: Vec<events::FeedbackPublished> =
        events_of(&platform, "contributions.feedback.published.v1").await;
    assert!(late.iter().any(|f| f.input_id == first.id && f.late));
}

/// A proposal without enough support expires at the end of its window; the
/// service sets that status, staff cannot.
async fn proposals_expire_without_support(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let author = platform.resident();
    let now = platform.now();
    let plan = project(
        &manager,
        vec![phase(
            now - Duration::days(1),
            None,
            proposals(10, 30),
            Permission::Registered,
        )],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    let proposal = post(&platform, &plan, &author, "Een autovrije zondag").await;
    assert_eq!(proposal.support_threshold, 10);
    let expires = proposal.expires_at.expect("a proposal expires");
    assert_eq!(
        expires.seconds,
        (platform.now() + Duration::days(30)).timestamp()
    );

    let state = platform.state();
    platform.advance(Duration::days(29));
    deadlines::scan(&state).await.expect("a scan");
    assert_eq!(
        get(&platform, &proposal.id, &author).await.status,
        InputStatus::Proposed as i32
    );
    platform.advance(Duration::days(2));
    deadlines::scan(&state).await.expect("a scan");
    assert_eq!(
        get(&platform, &proposal.id, &author).await.status,
        InputStatus::Expired as i32
    );
    let expired: Vec<events::InputStatusChanged> = {
        platform
            .shared
            .wait_for_events(
                "contributions.proposal.expired.v1",
                1,
                std::time::Duration::from_secs(10),
            )
            .await;
        events_of(&platform, "contributions.proposal.expired.v1").await
    };
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].actor_id, "", "the service itself");
    assert_eq!(expired[0].to_status, "expired");
    let entries = history(&platform, &proposal.id, &author).await;
    assert_eq!(kinds(&entries), vec!["created", "status_changed"]);
    assert_eq!(entries[1].actor_id, "");
    // Staff may reopen it for consideration, not expire another by hand.
    refused(
        platform
            .answers()
            .set_status(platform.by(set_status(&proposal, InputStatus::Expired), Some(&manager)))
            .await,
        Code::InvalidArgument,
        "expiring by hand",
    );
}

/// Someone identity blocks cannot post or edit until unblocked.
async fn blocked_people_cannot_contribute(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let mine = post(&platform, &plan, &author, "Voor de blokkade").await;
    let context = &platform.server.running.context;
    context
        .bus
        .consumer(
            context.db.clone(),
            inspraak_contributions::people::PURPOSE,
            inspraak_contributions::people::BINDINGS,
            inspraak_contributions::people::PeopleProjection {
                deletion: inspraak_contributions::gdpr::DeletionPolicy::Anonymise,
                clock: platform.shared.clock.clone(),
            },
        )
        .declare()
        .await
        .expect("the people queue");
    let blocked = platform
        .publish(
            "identity.user.blocked.v1",
            &author.id,
            1,
            &events::UserBlocked {
                user_id: author.id.clone(),
                reason: "spam".to_owned(),
                until: None,
                blocked_by: manager.id.clone(),
            },
        )
        .await;
    platform.wait_handled(&blocked).await;
    let request = proto::CreateInputRequest {
        project_id: plan.id.clone(),
        phase_id: plan.phases[0].id.clone(),
        title: "Na de blokkade".to_owned(),
        body: "Nog een idee".to_owned(),
        ..Default::default()
    };
    let refusal = refused(
        platform
            .client()
            .create_input(platform.by(request.clone(), Some(&author)))
            .await,
        Code::FailedPrecondition,
        "a blocked person posting",
    );
    assert!(
        refusal.message().contains("blocked"),
        "{}",
        refusal.message()
    );
    refused(
        platform
            .client()
            .update_input(platform.by(
                proto::UpdateInputRequest {
                    id: mine.id.clone(),
                    title: "Gewijzigd".to_owned(),
                    update_mask: vec!["title".to_owned()],
                    ..Default::default()
                },
                Some(&author),
            ))
            .await,
        Code::FailedPrecondition,
        "a blocked person editing",
    );
    // Reacting too, and the block is what they hear even about an input
    // that does not exist.
    let react = |input: String| react_up(&platform, input, &author);
    for input in [mine.id.clone(), Uuid::now_v7().to_string()] {
        let refusal = refused(
            react(input).await,
            Code::FailedPrecondition,
            "a blocked person reacting",
        );
        assert!(
            refusal.message().contains("blocked"),
            "{}",
            refusal.message()
        );
    }
    assert_eq!(stats(&platform, &plan.id).await.reaction_count, 0);
    let unblocked = platform
        .publish(
            "identity.user.unblocked.v1",
            &author.id,
            2,
            &events::UserUnblocked {
                user_id: author.id.clone(),
                unblocked_by: manager.id.clone(),
            },
        )
        .await;
    platform.wait_handled(&unblocked).await;
    platform
        .client()
        .create_input(platform.by(request, Some(&author)))
        .await
        .expect("unblocked, they post again");
    react(mine.id.clone())
        .await
        .expect("unblocked, they react again");
}

/// Filters and sorts, each walked page by page without gaps or repeats; an
/// author filter never reveals who wrote anonymous inputs.
async fn listing_filters_and_sorts(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let alice = platform.resident();
    let bob = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let a1 = post_with(&platform, &plan, &alice, "Fietspad A", false, &["fiets"]).await;
    let a2 = post_with(
        &platform,
        &plan,
        &alice,
        "Anoniem idee",
        true,
        &["fiets", "groen"],
    )
    .await;
    let b1 = post_with(&platform, &plan, &bob, "Bomen B", false, &["groen"]).await;
    let b2 = post_with(&platform, &plan, &bob, "Bankjes B", false, &["zitten"]).await;

    // Reactions and comments arrive through other calls; here the counters
    // are set directly to make ties that the keyset must walk.
    let db = &platform.server.running.context.db;
    for (id, up, comments) in [(&a1, 3, 0), (&a2, 3, 5), (&b1, 1, 5), (&b2, 7, 1)] {
        inputs::Entity::update_many()
            .col_expr(inputs::Column::ReactionsUp, Expr::value(up))
            .col_expr(inputs::Column::CommentCount, Expr::value(comments))
            .filter(inputs::Column::Id.eq(Uuid::parse_str(&id.id).expect("an id")))
            .exec(db)
            .await
            .expect("set counters");
    }
    let walk = |request: proto::ListInputsRequest, who: Option<Who>| {
        let platform = &platform;
        async move {
            let mut ids = Vec::new();
            let mut token = String::new();
            loop {
                let page = platform
                    .client()
                    .list_inputs(platform.by(
                        proto::ListInputsRequest {
                            page_size: 1,
                            page_token: token.clone(),
                            ..request.clone()
                        },
                        who.as_ref(),
                    ))
                    .await
                    .expect("a page")
                    .into_inner();
                ids.extend(page.inputs.into_iter().map(|i| i.title));
                if page.next_page_token.is_empty() {
                    return ids;
                }
                token = page.next_page_token;
            }
        }
    };
    let base = proto::ListInputsRequest {
        project_id: plan.id.clone(),
        ..Default::default()
    };
    let sorted = |sort: proto::InputSort| proto::ListInputsRequest {
        sort: sort as i32,
        ..base.clone()
    };
    assert_eq!(
        walk(base.clone(), None).await,
        vec!["Bankjes B", "Bomen B", "Anoniem idee", "Fietspad A"]
    );
    // Ties (3 and 3, 5 and 5) break by id, newest first.
    assert_eq!(
        walk(sorted(proto::InputSort::MostReactions), None).await,
        vec!["Bankjes B", "Anoniem idee", "Fietspad A", "Bomen B"]
    );
    assert_eq!(
        walk(sorted(proto::InputSort::MostCommented), None).await,
        vec!["Bomen B", "Anoniem idee", "Bankjes B", "Fietspad A"]
    );
    assert_eq!(
        walk(sorted(proto::InputSort::Trending), None).await.len(),
        4
    );
    let topic = proto::ListInputsRequest {
        topic: "Groen".to_owned(),
        ..base.clone()
    };
    assert_eq!(walk(topic, None).await, vec!["Bomen B", "Anoniem idee"]);
    let by_alice = proto::ListInputsRequest {
        author_id: alice.id.clone(),
        ..base.clone()
    };
    assert_eq!(
        walk(by_alice.clone(), Some(bob.clone())).await,
        vec!["Fietspad A"]
    );
    assert_eq!(
        walk(by_alice, Some(alice.clone())).await,
        vec!["Anoniem idee", "Fietspad A"]
    );

    // A token belongs to its sort.
    let first = platform
        .client()
        .list_inputs(platform.by(
            proto::ListInputsRequest {
                page_size: 1,
                ..sorted(proto::InputSort::MostReactions)
            },
            None,
        ))
        .await
        .expect("a page")
        .into_inner();
    let mixed = refused(
        platform
            .client()
            .list_inputs(platform.by(
                proto::ListInputsRequest {
                    page_token: first.next_page_token,
                    ..base.clone()
                },
                None,
            ))
            .await,
        Code::InvalidArgument,
        "a token of another sort",
    );
    assert_eq!(fields(&mixed), vec!["page_token"]);

    let mine = platform
        .client()
        .list_my_inputs(platform.by(proto::ListMyInputsRequest::default(), Some(&alice)))
        .await
        .expect("my inputs")
        .into_inner();
    let titles: Vec<&str> = mine.inputs.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, vec!["Anoniem idee", "Fietspad A"]);
    assert_eq!(
        mine.inputs[0].author_id, alice.id,
        "the author sees herself"
    );
    refused(
        platform
            .client()
            .list_my_inputs(platform.by(proto::ListMyInputsRequest::default(), None))
            .await
            .map(Response::into_inner),
        Code::Unauthenticated,
        "signed out",
    );
}

/// The figures come from counters the writes keep: inputs by status,
/// participants, answers, their median time, and a deletion taken out.
async fn statistics_follow_the_writes(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let alice = platform.resident();
    let bob = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let a = post(&platform, &plan, &alice, "Idee van Alice").await;
    let b = post(&platform, &plan, &bob, "Idee van Bob").await;
    let c = post(&platform, &plan, &alice, "Nog een idee van Alice").await;
    platform.advance(Duration::hours(2));
    platform
        .answers()
        .publish_feedback(platform.by(feedback(&a, InputStatus::Accepted), Some(&manager)))
        .await
        .expect("answer a after two hours");
    platform.advance(Duration::hours(28));
    platform
        .answers()
        .publish_feedback(platform.by(feedback(&b, InputStatus::Unspecified), Some(&manager)))
        .await
        .expect("answer b after thirty hours");
    platform
        .client()
        .delete_input(platform.by(proto::DeleteInputRequest { id: c.id.clone() }, Some(&alice)))
        .await
        .expect("alice deletes c");

    let read = |phase_id: String| {
        let request = platform.by(
            proto::GetStatisticsRequest {
                project_id: plan.id.clone(),
                phase_id,
            },
            None,
        );
        let mut client = platform.client();
        async move { client.get_statistics(request).await }
    };
    for phase_id in [String::new(), plan.phases[0].id.clone()] {
        let figures = read(phase_id.clone())
            .await
            .expect("the figures")
            .into_inner();
        assert_eq!(figures.inputs, 2, "{phase_id:?}");
        assert_eq!(figures.participants, 2);
        assert_eq!(figures.answered, 2);
        assert!((figures.share_answered - 1.0).abs() < 1e-9);
        assert_eq!(figures.median_hours_to_first_feedback, 2);
        assert_eq!(figures.overdue, 0);
        let mut by_status: Vec<(i32, i64)> = figures
            .inputs_by_status
            .iter()
            .map(|s| (s.status, s.count))
            .collect();
        by_status.sort_unstable();
        assert_eq!(
            by_status,
            vec![
                (InputStatus::Proposed as i32, 1),
                (InputStatus::Accepted as i32, 1)
            ]
        );
    }
    refused(
        read(Uuid::now_v7().to_string()).await,
        Code::NotFound,
        "a phase of no project",
    );
}

/// A project that screens input: a new input is `prescreening`, seen by its
/// author and the staff only, until a manager publishes it.
async fn screened_input_waits_for_the_staff(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let author = platform.resident();
    let neighbour = platform.resident();
    let now = platform.now();
    let mut plan = project(
        &manager,
        vec![phase(
            now - Duration::days(1),
            Some(now + Duration::days(30)),
            ideation(),
            Permission::Registered,
        )],
    );
    plan.prescreening = true;
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    let input = post(&platform, &plan, &author, "Eerst nakijken").await;
    assert_eq!(input.status, InputStatus::Prescreening as i32);
    assert_eq!(
        count_of_status(&platform, &plan.id, "prescreening").await,
        1
    );
    refused(
        platform
            .client()
            .get_input(platform.by(
                proto::GetInputRequest {
                    id: input.id.clone(),
                },
                Some(&neighbour),
            ))
            .await,
        Code::NotFound,
        "not public yet",
    );
    let listed = |who: &Who| {
        let request = platform.by(
            proto::ListInputsRequest {
                project_id: plan.id.clone(),
                ..Default::default()
            },
            Some(who),
        );
        let mut client = platform.client();
        async move {
            client
                .list_inputs(request)
                .await
                .expect("a list")
                .into_inner()
                .inputs
                .len()
        }
    };
    assert_eq!(listed(&neighbour).await, 0);
    assert_eq!(listed(&manager).await, 1, "the staff screen it");
    // Reacting follows what the caller may see: not the neighbour yet, the
    // author and the staff already.
    refused(
        react_up(&platform, input.id.clone(), &neighbour).await,
        Code::NotFound,
        "reacting on input not public yet",
    );
    for who in [&author, &manager] {
        react_up(&platform, input.id.clone(), who)
            .await
            .expect("the author and the staff react");
    }
    assert_eq!(stats(&platform, &plan.id).await.reaction_count, 2);
    assert_eq!(
        get(&platform, &input.id, &author).await.status,
        InputStatus::Prescreening as i32
    );
    platform
        .answers()
        .set_status(platform.by(set_status(&input, InputStatus::Proposed), Some(&manager)))
        .await
        .expect("the manager publishes it");
    assert_eq!(
        get(&platform, &input.id, &neighbour).await.status,
        InputStatus::Proposed as i32
    );
    assert_eq!(listed(&neighbour).await, 1);
    assert_eq!(
        count_of_status(&platform, &plan.id, "prescreening").await,
        0
    );
    let published = react_up(&platform, input.id.clone(), &neighbour)
        .await
        .expect("published, anyone reacts");
    assert_eq!(published.into_inner().up, 3);
}

inspraak_host::on_both_databases!(
    screened_input_waits_for_the_staff,
    statistics_follow_the_writes,
    statuses_follow_the_allowed_transitions,
    feedback_is_one_act_and_keeps_its_revisions,
    bulk_answers_are_all_or_nothing,
    overdue_inputs_are_listed_counted_and_announced_once,
    proposals_expire_without_support,
    blocked_people_cannot_contribute,
    listing_filters_and_sorts,
);
