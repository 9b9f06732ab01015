//! A deleted account's contributions, anonymised or erased as the policy
//! says, and a person's export of what they contributed; on PostgreSQL and
//! SQLite.

mod support;

use chrono::Duration;
use inspraak_contributions::ContributionsSettings;
use inspraak_contributions::gdpr::DeletionPolicy;
use inspraak_contributions::people::{BINDINGS, PURPOSE, PeopleProjection};
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::voting_client::VotingClient;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use support::{Backend, Platform, Who, ideation, phase, project, refused};
use tonic::Code;

struct Scene {
    plan: projects::Project,
    alices: proto::Input,
    bobs: proto::Input,
    comment: proto::Comment,
}

/// Alice posts, comments on Bob's input, reacts to it and follows the
/// project.
async fn scene(platform: &Platform, manager: &Who, alice: &Who, bob: &Who) -> Scene {
    let now = platform.now();
    let single = projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Voting(
            projects::Voting {
                kind: Some(projects::voting::Kind::Single(projects::SingleVote {})),
            },
        )),
    };
    let plan = project(
        manager,
        vec![
            phase(
                now - Duration::days(1),
                Some(now + Duration::days(30)),
                ideation(),
                Permission::Registered,
            ),
            phase(
                now - Duration::days(1),
                Some(now + Duration::days(30)),
                single,
                Permission::Registered,
            ),
        ],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    let post = |who: &Who, title: &str| {
        let request = platform.by(
            proto::CreateInputRequest {
                project_id: plan.id.clone(),
                phase_id: plan.phases[0].id.clone(),
                title: title.to_owned(),
                body: "Een voorstel met mijn naam".to_owned(),
                topics: vec!["groen".to_owned()],
                ..Default::default()
            },
            Some(who),
        );
        let mut client = platform.client();
        async move {
            client
                .create_input(request)
                .await
                .expect("post")
                .into_inner()
        }
    };
    let alices = post(alice, "Het idee van Alice").await;
    let bobs = post(bob, "Het idee van Bob").await;
    let comment = platform
        .discussion()
        .post_comment(platform.by(
            proto::PostCommentRequest {
                input_id: bobs.id.clone(),
                body: "Alice vindt dit goed".to_owned(),
                ..Default::default()
            },
            Some(alice),
        ))
        .await
        .expect("comment")
        .into_inner();
    platform
        .discussion()
        .react(platform.by(
            proto::ReactRequest {
                input_id: bobs.id.clone(),
                direction: proto::ReactionDirection::Up as i32,
            },
            Some(alice),
        ))
        .await
        .expect("react");
    platform
        .discussion()
        .follow(platform.by(
            proto::FollowRequest {
                target: Some(proto::follow_request::Target::ProjectId(plan.id.clone())),
            },
            Some(alice),
        ))
        .await
        .expect("follow");
    // She votes for Bob's input in the voting phase.
    let mut voting = VotingClient::new(platform.server.channel.clone());
    let item = proto::BasketItemRequest {
        phase_id: plan.phases[1].id.clone(),
        input_id: bobs.id.clone(),
    };
    voting
        .add_to_basket(platform.by(item, Some(alice)))
        .await
        .expect("a basket");
    voting
        .submit_basket(platform.by(
            proto::SubmitBasketRequest {
                phase_id: plan.phases[1].id.clone(),
            },
            Some(alice),
        ))
        .await
        .expect("submitted");
    Scene {
        plan,
        alices,
        bobs,
        comment,
    }
}

async fn delete_account(platform: &Platform, who: &Who, policy: DeletionPolicy) {
    let context = &platform.server.running.context;
    context
        .bus
        .consumer(
            context.db.clone(),
            PURPOSE,
            BINDINGS,
            PeopleProjection {
                deletion: policy,
                clock: platform.shared.clock.clone(),
            },
        )
        .declare()
        .await
        .expect("the people queue");
    let event = platform
        .publish(
            "identity.user.deleted.v1",
            &who.id,
            9,
            &events::UserDeleted {
                user_id: who.id.clone(),
            },
        )
        .await;
    platform.wait_handled(&event).await;
}

async fn export(platform: &Platform, who: &Who) -> proto::ExportMyContributionsResponse {
    platform
        .client()
        .export_my_contributions(platform.by(proto::ExportMyContributionsRequest {}, Some(who)))
        .await
        .expect("an export")
        .into_inner()
}

async fn statistics(platform: &Platform, plan: &projects::Project) -> proto::Statistics {
    platform
        .client()
        .get_statistics(platform.by(
            proto::GetStatisticsRequest {
                project_id: plan.id.clone(),
                phase_id: String::new(),
            },
            None,
        ))
        .await
        .expect("statistics")
        .into_inner()
}

/// The export holds what the person contributed, and only that.
async fn export_holds_what_i_contributed(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, alice, bob) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let scene = scene(&platform, &manager, &alice, &bob).await;
    let mine = export(&platform, &alice).await;
    assert_eq!(
        mine.inputs.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        vec![scene.alices.id.clone()]
    );
    assert_eq!(mine.comments.len(), 1);
    assert_eq!(mine.comments[0].body, "Alice vindt dit goed");
    assert_eq!(mine.reactions.len(), 1);
    assert_eq!(mine.reactions[0].input_id, scene.bobs.id);
    assert_eq!(mine.reactions[0].direction, "up");
    // Her own input (authors follow what they post) and the project.
    let mut follows: Vec<(String, String)> = mine
        .follows
        .iter()
        .map(|f| (f.target_type.clone(), f.target_id.clone()))
        .collect();
    follows.sort();
    assert_eq!(
        follows,
        vec![
            ("input".to_owned(), scene.alices.id.clone()),
            ("project".to_owned(), scene.plan.id.clone())
        ]
    );
    assert_eq!(mine.baskets.len(), 1);
    assert_eq!(mine.baskets[0].phase_id, scene.plan.phases[1].id);
    assert_eq!(mine.baskets[0].input_ids, vec![scene.bobs.id.clone()]);
    assert!(mine.baskets[0].submitted_at.is_some());
    let bobs = export(&platform, &bob).await;
    assert_eq!(bobs.inputs.len(), 1);
    assert!(bobs.baskets.is_empty());
    assert!(bobs.comments.is_empty() && bobs.reactions.is_empty());
    refused(
        platform
            .client()
            .export_my_contributions(platform.by(proto::ExportMyContributionsRequest {}, None))
            .await,
        Code::Unauthenticated,
        "signed out",
    );
}

/// Anonymised: the input and comment stay, with no trace of who wrote
/// them — not for other residents, not for admins; counts do not move.
async fn deleted_accounts_are_anonymised(backend: Backend) {
    let platform = Platform::start(backend).await;
    let (manager, alice, bob) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let admin = platform.admin();
    let scene = scene(&platform, &manager, &alice, &bob).await;
    let before = statistics(&platform, &scene.plan).await;
    delete_account(&platform, &alice, DeletionPolicy::Anonymise).await;

    for viewer in [&bob, &admin] {
        let input = platform
            .client()
            .get_input(platform.by(
                proto::GetInputRequest {
                    id: scene.alices.id.clone(),
                },
                Some(viewer),
            ))
            .await
            .expect("the input stays")
            .into_inner();
        assert!(input.anonymous);
        assert_ne!(input.author_id, alice.id);
        assert_eq!(input.title, "Het idee van Alice");
    }
    let comments = platform
        .discussion()
        .list_comments(platform.by(
            proto::ListCommentsRequest {
                input_id: scene.bobs.id.clone(),
                ..Default::default()
            },
            Some(&admin),
        ))
        .await
        .expect("comments")
        .into_inner()
        .comments;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, scene.comment.id);
    assert_eq!(comments[0].body, "Alice vindt dit goed");
    assert_ne!(comments[0].author_id, alice.id);
    let after = statistics(&platform, &scene.plan).await;
    assert_eq!(
        (
            after.inputs,
            after.comments,
            after.reactions,
            after.participants
        ),
        (
            before.inputs,
            before.comments,
            before.reactions,
            before.participants
        )
    );
    let bobs = platform
        .client()
        .get_input(platform.by(
            proto::GetInputRequest {
                id: scene.bobs.id.clone(),
            },
            Some(&bob),
        ))
        .await
        .expect("bob's input")
        .into_inner();
    assert_eq!(bobs.reactions_up, 1, "her reaction still counts");
    assert_eq!(bobs.vote_count, 1, "and her vote");
    let left = export(&platform, &alice).await;
    assert!(
        left.inputs.is_empty()
            && left.comments.is_empty()
            && left.reactions.is_empty()
            && left.follows.is_empty()
            && left.baskets.is_empty(),
        "nothing is linked to her any more: {left:?}"
    );
}

/// Erased: her input and comment are gone (text removed, counts down);
/// her reaction stays, anonymised, so results do not change.
async fn deleted_accounts_are_erased_when_the_policy_says_so(backend: Backend) {
    let mut settings = ContributionsSettings::defaults();
    settings.account_deletion = DeletionPolicy::Erase;
    let platform = Platform::start_with(backend, settings).await;
    let (manager, alice, bob) = (
        platform.resident(),
        platform.resident(),
        platform.resident(),
    );
    let scene = scene(&platform, &manager, &alice, &bob).await;
    let before = statistics(&platform, &scene.plan).await;
    delete_account(&platform, &alice, DeletionPolicy::Erase).await;

    refused(
        platform
            .client()
            .get_input(platform.by(
                proto::GetInputRequest {
                    id: scene.alices.id.clone(),
                },
                Some(&bob),
            ))
            .await,
        Code::NotFound,
        "her input is gone",
    );
    let after = statistics(&platform, &scene.plan).await;
    assert_eq!(after.inputs, before.inputs - 1);
    assert_eq!(after.comments, before.comments - 1);
    assert_eq!(after.reactions, before.reactions);
    let comments = platform
        .discussion()
        .list_comments(platform.by(
            proto::ListCommentsRequest {
                input_id: scene.bobs.id.clone(),
                ..Default::default()
            },
            Some(&bob),
        ))
        .await
        .expect("comments")
        .into_inner()
        .comments;
    assert!(
        comments.iter().all(|c| !c.body.contains("Alice")),
        "her words are gone: {comments:?}"
    );
    let bobs = platform
        .client()
        .get_input(platform.by(
            proto::GetInputRequest {
                id: scene.bobs.id.clone(),
            },
            Some(&bob),
        ))
        .await
        .expect("bob's input")
        .into_inner();
    assert_eq!(bobs.reactions_up, 1);
    assert_eq!(bobs.comment_count, 0);
}

inspraak_host::on_both_databases!(
    export_holds_what_i_contributed,
    deleted_accounts_are_anonymised,
    deleted_accounts_are_erased_when_the_policy_says_so,
);
