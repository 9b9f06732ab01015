//! Comments, reactions and follows through the real gRPC server, on
//! PostgreSQL and on SQLite; the concurrency and coalescing stories on
//! PostgreSQL, where requests really run side by side.

mod support;

use std::time::Duration as StdDuration;

use chrono::Duration;
use inspraak_bus::decode_payload;
use inspraak_contributions::ContributionsSettings;
use inspraak_contributions::counters::{self, Totals};
use inspraak_contributions::store::discussion::comments;
use inspraak_contributions::store::entities::inputs;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use proto::ReactionDirection::{Down, Up};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};
use support::{Backend, Platform, Who, ideation, phase, project};
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

/// The fields an INVALID_ARGUMENT names, sorted.
fn fields<T: std::fmt::Debug>(outcome: Result<T, Status>) -> Vec<String> {
    let status = refused(outcome, Code::InvalidArgument, "invalid");
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

fn ideation_with_dislikes() -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Ideation(
            projects::Ideation { dislikes: true },
        )),
    }
}

fn proposals(support_threshold: u32) -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Proposals(
            projects::Proposals {
                support_threshold,
                expiry_days: 30,
            },
        )),
    }
}

/// A published project managed by `manager`, with one phase of `method`
/// open from yesterday for 30 days.
async fn open_project(
    platform: &Platform,
    manager: &Who,
    method: projects::ParticipationMethod,
) -> projects::Project {
    let now = platform.now();
    let plan = project(
        manager,
        vec![phase(
            now - Duration::days(1),
            Some(now + Duration::days(30)),
            method,
            Permission::Registered,
        )],
    );
    platform
        .project_changed("projects.project.created.v1", &plan, 1)
        .await;
    plan
}

async fn post_input(platform: &Platform, plan: &projects::Project, who: &Who) -> proto::Input {
    platform
        .client()
        .create_input(platform.by(
            proto::CreateInputRequest {
                project_id: plan.id.clone(),
                phase_id: plan.phases[0].id.clone(),
                title: "Meer bomen".to_owned(),
                body: "Langs de vaart".to_owned(),
                ..Default::default()
            },
            Some(who),
        ))
        .await
        .expect("the input is posted")
        .into_inner()
}

async fn get_input(platform: &Platform, id: &str) -> proto::Input {
    platform
        .client()
        .get_input(platform.by(
            proto::GetInputRequest { id: id.to_owned() },
            Some(&platform.admin()),
        ))
        .await
        .expect("read the input")
        .into_inner()
}

fn comment(input: &str, body: &str) -> proto::PostCommentRequest {
    proto::PostCommentRequest {
        input_id: input.to_owned(),
        body: body.to_owned(),
        ..Default::default()
    }
}

fn reply(input: &str, parent: &str, body: &str) -> proto::PostCommentRequest {
    proto::PostCommentRequest {
        parent_id: parent.to_owned(),
        ..comment(input, body)
    }
}

async fn post(
    platform: &Platform,
    request: proto::PostCommentRequest,
    who: Option<&Who>,
) -> Result<proto::Comment, Status> {
    platform
        .discussion()
        .post_comment(platform.by(request, who))
        .await
        .map(Response::into_inner)
}

async fn update(
    platform: &Platform,
    id: &str,
    body: &str,
    who: &Who,
) -> Result<proto::Comment, Status> {
    platform
        .discussion()
        .update_comment(platform.by(
            proto::UpdateCommentRequest {
                comment_id: id.to_owned(),
                body: body.to_owned(),
            },
            Some(who),
        ))
        .await
        .map(Response::into_inner)
}

async fn delete(
    platform: &Platform,
    id: &str,
    who: &Who,
) -> Result<proto::DeleteCommentResponse, Status> {
    platform
        .discussion()
        .delete_comment(platform.by(
            proto::DeleteCommentRequest {
                comment_id: id.to_owned(),
            },
            Some(who),
        ))
        .await
        .map(Response::into_inner)
}

/// Every top-level comment `who` gets, two per page, in order.
async fn thread(platform: &Platform, input: &str, who: Option<&Who>) -> Vec<proto::Comment> {
    let mut all = Vec::new();
    let mut token = String::new();
    for _ in 0..100 {
        let page = platform
            .discussion()
            .list_comments(platform.by(
                proto::ListCommentsRequest {
                    input_id: input.to_owned(),
                    page_size: 2,
                    page_token: token.clone(),
                },
                who,
            ))
            .await
            .expect("list comments")
            .into_inner();
        assert!(page.comments.len() <= 2);
        all.extend(page.comments);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

/// The bodies of a thread: each comment with its replies' bodies.
fn bodies(thread: &[proto::Comment]) -> Vec<(String, Vec<String>)> {
    thread
        .iter()
        .map(|c| {
            (
                c.body.clone(),
                c.replies.iter().map(|r| r.body.clone()).collect(),
            )
        })
        .collect()
}

async fn react(
    platform: &Platform,
    input: &str,
    direction: proto::ReactionDirection,
    who: Option<&Who>,
) -> Result<proto::ReactionSummary, Status> {
    platform
        .discussion()
        .react(platform.by(
            proto::ReactRequest {
                input_id: input.to_owned(),
                direction: direction as i32,
            },
            who,
        ))
        .await
        .map(Response::into_inner)
}

async fn unreact(
    platform: &Platform,
    input: &str,
    who: &Who,
) -> Result<proto::ReactionSummary, Status> {
    platform
        .discussion()
        .unreact(platform.by(
            proto::UnreactRequest {
                input_id: input.to_owned(),
            },
            Some(who),
        ))
        .await
        .map(Response::into_inner)
}

/// A statistic of the project's row and of its first phase's row.
async fn stat(
    platform: &Platform,
    plan: &projects::Project,
    pick: fn(&Totals) -> i64,
) -> (i64, i64) {
    let db = &platform.server.running.context.db;
    let project = uuid::Uuid::parse_str(&plan.id).expect("an id");
    let phase = uuid::Uuid::parse_str(&plan.phases[0].id).expect("an id");
    let mut found = Vec::new();
    for row in [uuid::Uuid::nil(), phase] {
        found.push(
            counters::totals(db, project, row)
                .await
                .expect("read statistics")
                .as_ref()
                .map_or(0, pick),
        );
    }
    (found[0], found[1])
}

/// The counts of `input` as `(up, down, comments)`, after checking that
/// its stored trending rank is the one its counts give, to the bit (on
/// PostgreSQL the database computes it in the update that counts).
async fn counts(platform: &Platform, input: &str) -> (i64, i64, i64) {
    let id = uuid::Uuid::parse_str(input).expect("an id");
    let row = inputs::Entity::find_by_id(id)
        .one(&platform.server.running.context.db)
        .await
        .expect("read the input")
        .expect("the input");
    assert_eq!(
        row.trending.to_bits(),
        counters::trending(&row).to_bits(),
        "stored rank {} for counts ({}, {}, {})",
        row.trending,
        row.reactions_up,
        row.reactions_down,
        row.comment_count
    );
    let input = get_input(platform, input).await;
    (
        input.reactions_up,
        input.reactions_down,
        input.comment_count,
    )
}

/// The events of `event_type` once `count` of them were published.
async fn events_of(platform: &Platform, event_type: &str, count: usize) -> Vec<events::Envelope> {
    platform
        .shared
        .wait_for_events(event_type, count, StdDuration::from_secs(10))
        .await
}

// --- comments --------------------------------------------------------------

/// Comments and replies read as a thread, oldest first, page by page; a
/// reply to a reply is refused; authors edit and delete their own, and a
/// deleted comment with replies keeps its thread without its text.
async fn comments_form_threads_and_change_by_their_author(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, author, rik, sara) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let plan = open_project(&platform, &manager, ideation()).await;
    let input = post_input(&platform, &plan, &author).await;

    let first = post(&platform, comment(&input.id, "  Goed idee  "), Some(&rik))
        .await
        .expect("a comment");
    assert_eq!(first.body, "Goed idee");
    assert_eq!(first.author_id, rik.id);
    assert!(first.parent_id.is_empty() && !first.internal && !first.deleted);
    let answer = post(
        &platform,
        reply(&input.id, &first.id, "Akkoord"),
        Some(&sara),
    )
    .await
    .expect("a reply");
    assert_eq!(answer.parent_id, first.id);
    precondition(
        post(&platform, reply(&input.id, &answer.id, "Nee"), Some(&rik)).await,
        "a reply cannot be answered",
    );
    let second = post(&platform, comment(&input.id, "Tweede"), Some(&sara))
        .await
        .expect("a comment");
    post(&platform, comment(&input.id, "Derde"), Some(&sara))
        .await
        .expect("a comment");

    let read = thread(&platform, &input.id, None).await;
    assert_eq!(
        bodies(&read),
        vec![
            ("Goed idee".to_owned(), vec!["Akkoord".to_owned()]),
            ("Tweede".to_owned(), vec![]),
            ("Derde".to_owned(), vec![]),
        ]
    );
    assert_eq!(counts(&platform, &input.id).await, (0, 0, 4));
    assert_eq!(stat(&platform, &plan, |s| s.comment_count).await, (4, 4));
    // The author of the input and the two who commented.
    assert_eq!(
        stat(&platform, &plan, |s| s.participant_count).await,
        (3, 3)
    );

    refused(
        update(&platform, &first.id, "Overgenomen", &sara).await,
        Code::PermissionDenied,
        "someone else edits",
    );
    assert_eq!(
        fields(update(&platform, &first.id, "   ", &rik).await),
        vec!["body"]
    );
    let edited = update(&platform, &first.id, "Heel goed idee", &rik)
        .await
        .expect("edited");
    assert!(edited.edited);
    assert_eq!(edited.body, "Heel goed idee");

    refused(
        delete(&platform, &first.id, &sara).await,
        Code::PermissionDenied,
        "someone else deletes",
    );
    assert_eq!(
        thread(&platform, &input.id, None).await[0].body,
        "Heel goed idee"
    );
    delete(&platform, &first.id, &rik).await.expect("deleted");
    delete(&platform, &second.id, &sara).await.expect("deleted");
    refused(
        delete(&platform, &first.id, &rik).await,
        Code::NotFound,
        "deleted twice",
    );
    refused(
        update(&platform, &first.id, "Terug", &rik).await,
        Code::NotFound,
        "a deleted comment edited",
    );
    let read = thread(&platform, &input.id, None).await;
    assert_eq!(
        bodies(&read),
        vec![
            (String::new(), vec!["Akkoord".to_owned()]),
            ("Derde".to_owned(), vec![]),
        ]
    );
    assert!(read[0].deleted);
    assert_eq!(read[0].id, first.id);
    assert_eq!(counts(&platform, &input.id).await, (0, 0, 2));
    assert_eq!(stat(&platform, &plan, |s| s.comment_count).await, (2, 2));

    let posted = events_of(&platform, "contributions.comment.posted.v1", 4).await;
    assert_eq!(posted.len(), 4);
    let answered: events::CommentPosted = decode_payload(&posted[1]).expect("a CommentPosted");
    assert_eq!(answered.comment_id, answer.id);
    assert_eq!(answered.parent_id, first.id);
    assert_eq!(answered.parent_author_id, rik.id);
    assert_eq!(answered.input_author_id, author.id);
    assert_eq!(answered.input_title, "Meer bomen");
    assert_eq!(answered.excerpt, "Akkoord");
    assert!(!answered.internal);
    let edits = events_of(&platform, "contributions.comment.edited.v1", 1).await;
    assert_eq!(edits.len(), 1);
    let deletions = events_of(&platform, "contributions.comment.deleted.v1", 2).await;
    let deleted: events::CommentChanged = decode_payload(&deletions[0]).expect("CommentChanged");
    assert_eq!((deleted.comment_id, deleted.actor_id), (first.id, rik.id));
    assert_eq!(deletions.len(), 2);
}

/// Each refusal names what failed and changes nothing; a retry with the
/// same request id posts once.
async fn comment_refusals_change_nothing(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, author, rik) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let mut plan = open_project(&platform, &manager, ideation()).await;
    let input = post_input(&platform, &plan, &author).await;

    refused(
        post(&platform, comment(&input.id, "Hallo"), None).await,
        Code::Unauthenticated,
        "signed out",
    );
    assert_eq!(
        fields(
            post(
                &platform,
                proto::PostCommentRequest {
                    input_id: "x".to_owned(),
                    body: " ".to_owned(),
                    parent_id: "y".to_owned(),
                    internal: false,
                    request_id: "r".repeat(101),
                },
                Some(&rik),
            )
            .await
        ),
        vec!["body", "input_id", "parent_id", "request_id"]
    );
    assert_eq!(
        fields(post(&platform, comment(&input.id, &"a".repeat(5001)), Some(&rik)).await),
        vec!["body"]
    );
    refused(
        post(
            &platform,
            comment(&uuid::Uuid::now_v7().to_string(), "Hallo"),
            Some(&rik),
        )
        .await,
        Code::NotFound,
        "an unknown input",
    );
    refused(
        post(
            &platform,
            reply(&input.id, &uuid::Uuid::now_v7().to_string(), "Hallo"),
            Some(&rik),
        )
        .await,
        Code::NotFound,
        "an unknown parent",
    );
    refused(
        post(
            &platform,
            proto::PostCommentRequest {
                internal: true,
                ..comment(&input.id, "Intern")
            },
            Some(&rik),
        )
        .await,
        Code::PermissionDenied,
        "a resident's internal comment",
    );

    let retried = proto::PostCommentRequest {
        request_id: "poging-1".to_owned(),
        ..comment(&input.id, "Een keer")
    };
    let once = post(&platform, retried.clone(), Some(&rik))
        .await
        .expect("posted");
    let again = post(&platform, retried, Some(&rik)).await.expect("retried");
    assert_eq!(once.id, again.id);
    assert_eq!(counts(&platform, &input.id).await, (0, 0, 1));

    // Commenting for admins and managers only.
    plan.phases[0]
        .permissions
        .as_mut()
        .expect("permissions")
        .comment = Permission::AdminsAndManagers as i32;
    platform
        .project_changed("projects.project.changed.v1", &plan, 2)
        .await;
    precondition(
        post(&platform, comment(&input.id, "Hallo"), Some(&rik)).await,
        "commenting in this phase is for admins and the project's managers",
    );
    post(
        &platform,
        comment(&input.id, "Van de beheerder"),
        Some(&manager),
    )
    .await
    .expect("a manager comments");

    platform.advance(Duration::days(31));
    precondition(
        post(&platform, comment(&input.id, "Te laat"), Some(&manager)).await,
        "the input's phase has ended",
    );
    // Staff notes go on after the phase.
    post(
        &platform,
        proto::PostCommentRequest {
            internal: true,
            ..comment(&input.id, "Intern na de fase")
        },
        Some(&manager),
    )
    .await
    .expect("an internal comment after the phase");

    let read = thread(&platform, &input.id, Some(&rik)).await;
    assert_eq!(
        bodies(&read),
        vec![
            ("Een keer".to_owned(), vec![]),
            ("Van de beheerder".to_owned(), vec![]),
        ]
    );
    assert_eq!(counts(&platform, &input.id).await, (0, 0, 2));
    assert_eq!(stat(&platform, &plan, |s| s.comment_count).await, (2, 2));
    let db = &platform.server.running.context.db;
    assert_eq!(comments::Entity::find().count(db).await.expect("count"), 3);
    refused(
        platform
            .discussion()
            .list_comments(platform.by(
                proto::ListCommentsRequest {
                    input_id: input.id.clone(),
                    page_size: 0,
                    page_token: "nonsense".to_owned(),
                },
                None,
            ))
            .await,
        Code::InvalidArgument,
        "a bad page token",
    );
}

/// Internal comments are read by the project's staff only: not by a
/// resident, not by the manager of another project; a reply to one is
/// internal too, and none of them is counted.
async fn internal_comments_stay_with_the_staff(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, other_manager, author, rik) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let plan = open_project(&platform, &manager, ideation()).await;
    open_project(&platform, &other_manager, ideation()).await;
    let input = post_input(&platform, &plan, &author).await;

    let note = post(
        &platform,
        proto::PostCommentRequest {
            internal: true,
            ..comment(&input.id, "Navragen bij de dienst")
        },
        Some(&manager),
    )
    .await
    .expect("an internal comment");
    assert!(note.internal);
    let note_reply = post(
        &platform,
        reply(&input.id, &note.id, "Gedaan"),
        Some(&platform.admin()),
    )
    .await
    .expect("an admin's reply");
    assert!(
        note_reply.internal,
        "a reply to an internal comment is internal"
    );
    let public = post(&platform, comment(&input.id, "Mooi"), Some(&rik))
        .await
        .expect("a comment");
    post(
        &platform,
        reply(&input.id, &public.id, "Dank"),
        Some(&manager),
    )
    .await
    .expect("a public reply");
    post(
        &platform,
        proto::PostCommentRequest {
            internal: true,
            ..reply(&input.id, &public.id, "Intern antwoord")
        },
        Some(&manager),
    )
    .await
    .expect("an internal reply");

    let public_view = vec![("Mooi".to_owned(), vec!["Dank".to_owned()])];
    for who in [Some(&rik), Some(&other_manager), None] {
        assert_eq!(
            bodies(&thread(&platform, &input.id, who).await),
            public_view
        );
    }
    let staff_view = vec![
        (
            "Navragen bij de dienst".to_owned(),
            vec!["Gedaan".to_owned()],
        ),
        (
            "Mooi".to_owned(),
            vec!["Dank".to_owned(), "Intern antwoord".to_owned()],
        ),
    ];
    for who in [&manager, &platform.admin()] {
        assert_eq!(
            bodies(&thread(&platform, &input.id, Some(who)).await),
            staff_view
        );
    }
    refused(
        post(&platform, reply(&input.id, &note.id, "Ik ook"), Some(&rik)).await,
        Code::NotFound,
        "a resident answers an internal comment",
    );
    refused(
        update(&platform, &note.id, "Gezien", &other_manager).await,
        Code::NotFound,
        "another project's manager edits an internal comment",
    );
    assert_eq!(counts(&platform, &input.id).await, (0, 0, 2));
    let posted = events_of(&platform, "contributions.comment.posted.v1", 5).await;
    let first: events::CommentPosted = decode_payload(&posted[0]).expect("a CommentPosted");
    assert!(first.internal);
    assert_eq!(first.excerpt, "Navragen bij de dienst");
}

/// A hidden comment is read by its author and the staff only.
async fn hidden_comments_show_to_their_author_and_the_staff(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, author, rik, sara) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let plan = open_project(&platform, &manager, ideation()).await;
    let input = post_input(&platform, &plan, &author).await;
    let hidden = post(&platform, comment(&input.id, "Scheldwoord"), Some(&rik))
        .await
        .expect("a comment");
    post(&platform, comment(&input.id, "Netjes"), Some(&sara))
        .await
        .expect("a comment");
    let db = &platform.server.running.context.db;
    let id = uuid::Uuid::parse_str(&hidden.id).expect("an id");
    let mut row = comments::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the comment")
        .into_active_model();
    row.hidden_at = Set(Some(platform.now()));
    comments::Entity::update(row).exec(db).await.expect("hide");

    assert_eq!(
        bodies(&thread(&platform, &input.id, Some(&sara)).await),
        vec![("Netjes".to_owned(), vec![])]
    );
    for who in [&rik, &manager] {
        let read = thread(&platform, &input.id, Some(who)).await;
        assert_eq!(read.len(), 2);
        assert!(read[0].hidden && read[0].body == "Scheldwoord");
    }
    refused(
        post(&platform, reply(&input.id, &hidden.id, "Foei"), Some(&sara)).await,
        Code::NotFound,
        "a reply to a hidden comment",
    );
}

// --- reactions -------------------------------------------------------------

/// One reaction per person: the same reaction again counts once, the other
/// direction moves the count, taking it back removes it; dislikes only
/// where the phase takes them; every refusal changes nothing.
async fn reactions_count_once_and_switch(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, author, rik, sara) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let plan = open_project(&platform, &manager, ideation()).await;
    let input = post_input(&platform, &plan, &author).await;

    let first = react(&platform, &input.id, Up, Some(&rik))
        .await
        .expect("up");
    assert_eq!((first.up, first.down, first.mine), (1, 0, Up as i32));
    let again = react(&platform, &input.id, Up, Some(&rik))
        .await
        .expect("up");
    assert_eq!((again.up, again.down), (1, 0));
    precondition(
        react(&platform, &input.id, Down, Some(&rik)).await,
        "this phase takes no dislikes",
    );
    refused(
        react(&platform, &input.id, Up, None).await,
        Code::Unauthenticated,
        "signed out",
    );
    assert_eq!(
        fields(
            react(
                &platform,
                &input.id,
                proto::ReactionDirection::Unspecified,
                Some(&rik)
            )
            .await
        ),
        vec!["direction"]
    );
    assert_eq!(
        fields(react(&platform, "nope", Up, Some(&rik)).await),
        vec!["input_id"]
    );
    refused(
        react(&platform, &uuid::Uuid::now_v7().to_string(), Up, Some(&rik)).await,
        Code::NotFound,
        "an unknown input",
    );
    assert_eq!(counts(&platform, &input.id).await, (1, 0, 0));
    assert_eq!(stat(&platform, &plan, |s| s.reaction_count).await, (1, 1));
    assert_eq!(
        stat(&platform, &plan, |s| s.participant_count).await,
        (2, 2)
    );
    // A participant reacting again, on another input, is counted once.
    let second = post_input(&platform, &plan, &author).await;
    react(&platform, &second.id, Up, Some(&rik))
        .await
        .expect("up on the second input");
    assert_eq!(stat(&platform, &plan, |s| s.reaction_count).await, (2, 2));
    assert_eq!(
        stat(&platform, &plan, |s| s.participant_count).await,
        (2, 2)
    );
    unreact(&platform, &second.id, &rik)
        .await
        .expect("taken back from the second input");

    let taken = unreact(&platform, &input.id, &rik)
        .await
        .expect("taken back");
    assert_eq!((taken.up, taken.down, taken.mine), (0, 0, 0));
    let nothing = unreact(&platform, &input.id, &rik).await.expect("nothing");
    assert_eq!((nothing.up, nothing.down), (0, 0));
    assert_eq!(stat(&platform, &plan, |s| s.reaction_count).await, (0, 0));

    // Where dislikes are on, switching moves the reaction.
    let liked = open_project(&platform, &manager, ideation_with_dislikes()).await;
    let other = post_input(&platform, &liked, &author).await;
    react(&platform, &other.id, Up, Some(&sara))
        .await
        .expect("up");
    let switched = react(&platform, &other.id, Down, Some(&sara))
        .await
        .expect("down");
    assert_eq!(
        (switched.up, switched.down, switched.mine),
        (0, 1, Down as i32)
    );
    react(&platform, &other.id, Up, Some(&rik))
        .await
        .expect("up");
    assert_eq!(counts(&platform, &other.id).await, (1, 1, 0));
    assert_eq!(stat(&platform, &liked, |s| s.reaction_count).await, (2, 2));

    // Reacting for admins and managers only.
    let mut closed = open_project(&platform, &manager, ideation()).await;
    closed.phases[0]
        .permissions
        .as_mut()
        .expect("permissions")
        .react = Permission::AdminsAndManagers as i32;
    platform
        .project_changed("projects.project.changed.v1", &closed, 2)
        .await;
    let third = post_input(&platform, &closed, &author).await;
    precondition(
        react(&platform, &third.id, Up, Some(&rik)).await,
        "reacting in this phase is for admins and the project's managers",
    );
    react(&platform, &third.id, Up, Some(&manager))
        .await
        .expect("a manager reacts");

    // After the phase, reactions stand as they are.
    platform.advance(Duration::days(31));
    precondition(
        react(&platform, &other.id, Up, Some(&sara)).await,
        "the input's phase has ended",
    );
    precondition(
        unreact(&platform, &other.id, &rik).await,
        "the input's phase has ended",
    );
    assert_eq!(counts(&platform, &other.id).await, (1, 1, 0));
    assert_eq!(counts(&platform, &third.id).await, (1, 0, 0));
}

/// In a proposals phase UP is support: enough of it reaches the threshold,
/// and dislikes are refused.
async fn support_reaches_the_threshold(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, author) = (platform.resident(), platform.resident());
    let plan = open_project(&platform, &manager, proposals(2)).await;
    let input = post_input(&platform, &plan, &author).await;
    precondition(
        react(&platform, &input.id, Down, Some(&platform.resident())).await,
        "this phase takes no dislikes",
    );
    react(&platform, &input.id, Up, Some(&platform.resident()))
        .await
        .expect("support");
    assert_eq!(
        get_input(&platform, &input.id).await.status,
        proto::InputStatus::Proposed as i32
    );
    react(&platform, &input.id, Up, Some(&platform.resident()))
        .await
        .expect("support");
    let reached = get_input(&platform, &input.id).await;
    assert_eq!(reached.status, proto::InputStatus::ThresholdReached as i32);
    assert_eq!(reached.reactions_up, 2);
    let announced = events_of(&platform, "contributions.input.threshold_reached.v1", 1).await;
    assert_eq!(announced.len(), 1);
}

// --- follows ---------------------------------------------------------------

async fn follow(
    platform: &Platform,
    target: proto::follow_request::Target,
    who: Option<&Who>,
) -> Result<proto::FollowResponse, Status> {
    platform
        .discussion()
        .follow(platform.by(
            proto::FollowRequest {
                target: Some(target),
            },
            who,
        ))
        .await
        .map(Response::into_inner)
}

async fn unfollow(
    platform: &Platform,
    target: proto::unfollow_request::Target,
    who: &Who,
) -> Result<proto::FollowResponse, Status> {
    platform
        .discussion()
        .unfollow(platform.by(
            proto::UnfollowRequest {
                target: Some(target),
            },
            Some(who),
        ))
        .await
        .map(Response::into_inner)
}

/// Every follow of `who`, one per page.
async fn my_follows(platform: &Platform, who: &Who) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut token = String::new();
    for _ in 0..100 {
        let page = platform
            .discussion()
            .list_my_follows(platform.by(
                proto::ListMyFollowsRequest {
                    page_size: 1,
                    page_token: token.clone(),
                },
                Some(who),
            ))
            .await
            .expect("list follows")
            .into_inner();
        assert!(page.follows.len() <= 1);
        all.extend(
            page.follows
                .into_iter()
                .map(|f| (f.target_type, f.target_id)),
        );
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

/// Following is idempotent, unfollowing announces only a follow removed,
/// and a person lists what they follow.
async fn follows_are_kept_and_announced_once(backend: Backend) {
    use proto::follow_request::Target as F;
    use proto::unfollow_request::Target as U;
    let platform = Platform::start(backend).await;
    let (manager, author, rik) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let plan = open_project(&platform, &manager, ideation()).await;
    let input = post_input(&platform, &plan, &author).await;

    let own = follow(&platform, F::InputId(input.id.clone()), Some(&author))
        .await
        .expect("follow");
    assert_eq!((own.following, own.changed), (true, false));
    let new = follow(&platform, F::InputId(input.id.clone()), Some(&rik))
        .await
        .expect("follow");
    assert_eq!((new.following, new.changed), (true, true));
    follow(&platform, F::ProjectId(plan.id.clone()), Some(&rik))
        .await
        .expect("follow the project");
    assert_eq!(
        my_follows(&platform, &rik).await,
        vec![
            ("input".to_owned(), input.id.clone()),
            ("project".to_owned(), plan.id.clone()),
        ]
    );

    refused(
        follow(&platform, F::InputId(input.id.clone()), None).await,
        Code::Unauthenticated,
        "signed out",
    );
    assert_eq!(
        fields(
            platform
                .discussion()
                .follow(platform.by(proto::FollowRequest { target: None }, Some(&rik)))
                .await
        ),
        vec!["target"]
    );
    assert_eq!(
        fields(follow(&platform, F::ProjectId("x".to_owned()), Some(&rik)).await),
        vec!["project_id"]
    );
    refused(
        follow(
            &platform,
            F::InputId(uuid::Uuid::now_v7().to_string()),
            Some(&rik),
        )
        .await,
        Code::NotFound,
        "an unknown input",
    );

    let gone = unfollow(&platform, U::InputId(input.id.clone()), &rik)
        .await
        .expect("unfollow");
    assert_eq!((gone.following, gone.changed), (false, true));
    let again = unfollow(&platform, U::InputId(input.id.clone()), &rik)
        .await
        .expect("unfollow again");
    assert_eq!((again.following, again.changed), (false, false));
    assert_eq!(
        my_follows(&platform, &rik).await,
        vec![("project".to_owned(), plan.id.clone())]
    );

    // Author's own follow, rik's input and project follows, rik's unfollow.
    let changes = events_of(&platform, "contributions.follow.changed.v1", 4).await;
    let changes: Vec<events::FollowChanged> = changes
        .iter()
        .map(|e| decode_payload(e).expect("a FollowChanged"))
        .collect();
    let rik_s: Vec<(String, bool)> = changes
        .iter()
        .filter(|c| c.user_id == rik.id)
        .map(|c| (c.target_type.clone(), c.following))
        .collect();
    assert_eq!(
        rik_s,
        vec![
            ("input".to_owned(), true),
            ("project".to_owned(), true),
            ("input".to_owned(), false),
        ]
    );
    assert_eq!(changes.len(), 4);
}

/// Every one of `people` reacts UP on `input` at the same moment; each
/// reaction must be taken.
async fn all_react_up_at_once(platform: &Platform, input: &str, people: &[Who]) {
    let calls = people.iter().map(|who| {
        let request = platform.by(
            proto::ReactRequest {
                input_id: input.to_owned(),
                direction: Up as i32,
            },
            Some(who),
        );
        let mut client = platform.discussion();
        async move { client.react(request).await }
    });
    for outcome in futures_util::future::join_all(calls).await {
        outcome.expect("every reaction is taken");
    }
}

/// A burst of reactions on one input is announced once, after its
/// window, with the counts at the end of the burst.
async fn a_burst_of_reactions_is_one_event(backend: Backend) {
    let settings = ContributionsSettings {
        reaction_event_window: StdDuration::from_secs(1),
        ..ContributionsSettings::defaults()
    };
    let platform = Platform::start_with(backend, settings).await;
    let (manager, author) = (platform.resident(), platform.resident());
    let plan = open_project(&platform, &manager, ideation_with_dislikes()).await;
    let input = post_input(&platform, &plan, &author).await;
    let people: Vec<Who> = (0..20).map(|_| platform.resident()).collect();
    all_react_up_at_once(&platform, &input.id, &people).await;
    for who in &people[..5] {
        react(&platform, &input.id, Down, Some(who))
            .await
            .expect("switched");
    }
    for who in &people[5..7] {
        unreact(&platform, &input.id, who)
            .await
            .expect("taken back");
    }
    // The window has not passed on the service's clock: nothing yet,
    // though the coalescer looked several times.
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    let event = "contributions.reactions.changed.v1";
    assert!(
        platform
            .shared
            .events()
            .await
            .iter()
            .all(|e| e.r#type != event)
    );

    platform.advance(Duration::seconds(2));
    let announced = events_of(&platform, event, 1).await;
    assert_eq!(announced.len(), 1);
    // Nothing more follows on later passes.
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    let announced = events_of(&platform, event, 1).await;
    assert_eq!(announced.len(), 1);
    let changed: events::ReactionsChanged =
        decode_payload(&announced[0]).expect("a ReactionsChanged");
    assert_eq!(changed.input_id, input.id);
    assert_eq!(changed.project_id, plan.id);
    assert_eq!((changed.up, changed.down), (13, 5));
    let db = &platform.server.running.context.db;
    assert_eq!(
        inputs::Entity::find()
            .filter(inputs::Column::ReactionsSince.is_not_null())
            .count(db)
            .await
            .expect("count"),
        0,
        "the announced burst is no longer pending"
    );

    // A later reaction starts a new burst, announced in its turn.
    react(&platform, &input.id, Up, Some(&people[5]))
        .await
        .expect("up again");
    platform.advance(Duration::seconds(2));
    let announced = events_of(&platform, event, 2).await;
    assert_eq!(announced.len(), 2);
    let changed: events::ReactionsChanged =
        decode_payload(&announced[1]).expect("a ReactionsChanged");
    assert_eq!((changed.up, changed.down), (14, 5));
}

inspraak_host::on_both_databases!(
    comments_form_threads_and_change_by_their_author,
    comment_refusals_change_nothing,
    internal_comments_stay_with_the_staff,
    hidden_comments_show_to_their_author_and_the_staff,
    reactions_count_once_and_switch,
    support_reaches_the_threshold,
    follows_are_kept_and_announced_once,
    a_burst_of_reactions_is_one_event,
);

// --- at once, on PostgreSQL --------------------------------------------------

mod postgres_at_once {
    use super::*;

    /// 200 people reacting at the same moment: every one counted, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_people_react_at_once() {
        let platform = Platform::start(Backend::Postgres).await;
        let (manager, author) = (platform.resident(), platform.resident());
        let plan = open_project(&platform, &manager, ideation()).await;
        let input = post_input(&platform, &plan, &author).await;
        let people: Vec<Who> = (0..200).map(|_| platform.resident()).collect();
        all_react_up_at_once(&platform, &input.id, &people).await;
        assert_eq!(counts(&platform, &input.id).await, (200, 0, 0));
        assert_eq!(
            stat(&platform, &plan, |s| s.reaction_count).await,
            (200, 200)
        );
        assert_eq!(
            stat(&platform, &plan, |s| s.participant_count).await,
            (201, 201)
        );
    }

    /// One person's 50 identical reactions at once count once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn identical_reactions_at_once_count_once() {
        let platform = Platform::start(Backend::Postgres).await;
        let (manager, author, rik) = (
            platform.resident(),
            platform.resident(),
            platform.resident(),
        );
        let plan = open_project(&platform, &manager, ideation()).await;
        let input = post_input(&platform, &plan, &author).await;
        let calls = (0..50).map(|_| {
            let request = platform.by(
                proto::ReactRequest {
                    input_id: input.id.clone(),
                    direction: Up as i32,
                },
                Some(&rik),
            );
            let mut client = platform.discussion();
            async move { client.react(request).await }
        });
        for outcome in futures_util::future::join_all(calls).await {
            let summary = outcome.expect("every call answers").into_inner();
            assert_eq!((summary.up, summary.mine), (1, Up as i32));
        }
        assert_eq!(counts(&platform, &input.id).await, (1, 0, 0));
        assert_eq!(stat(&platform, &plan, |s| s.reaction_count).await, (1, 1));
        assert_eq!(
            stat(&platform, &plan, |s| s.participant_count).await,
            (2, 2)
        );
    }

    /// Reactions by people new to the project and by people already
    /// counted, and comments, all at once on one input: every one counted,
    /// none lost to a deadlock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reactions_and_comments_at_once_all_count() {
        let platform = Platform::start(Backend::Postgres).await;
        let (manager, author) = (platform.resident(), platform.resident());
        let plan = open_project(&platform, &manager, ideation()).await;
        let input = post_input(&platform, &plan, &author).await;
        let known: Vec<Who> = (0..40).map(|_| platform.resident()).collect();
        for who in &known {
            post(&platform, comment(&input.id, "Eerst"), Some(who))
                .await
                .expect("a comment");
        }
        let new: Vec<Who> = (0..40).map(|_| platform.resident()).collect();
        let reactions = known.iter().chain(&new).map(|who| {
            let request = platform.by(
                proto::ReactRequest {
                    input_id: input.id.clone(),
                    direction: Up as i32,
                },
                Some(who),
            );
            let mut client = platform.discussion();
            async move { client.react(request).await.map(|_| ()) }
        });
        let comments = known.iter().map(|who| {
            let request = platform.by(comment(&input.id, "Nog eens"), Some(who));
            let mut client = platform.discussion();
            async move { client.post_comment(request).await.map(|_| ()) }
        });
        let (reacted, commented) = futures_util::future::join(
            futures_util::future::join_all(reactions),
            futures_util::future::join_all(comments),
        )
        .await;
        for outcome in reacted.into_iter().chain(commented) {
            outcome.expect("every call is taken");
        }
        assert_eq!(counts(&platform, &input.id).await, (80, 0, 80));
        assert_eq!(stat(&platform, &plan, |s| s.reaction_count).await, (80, 80));
        assert_eq!(stat(&platform, &plan, |s| s.comment_count).await, (80, 80));
        assert_eq!(
            stat(&platform, &plan, |s| s.participant_count).await,
            (81, 81)
        );
    }
}
