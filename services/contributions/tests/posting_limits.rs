//! Flood protection: one person may post only so many inputs and comments a
//! minute. Beyond the limit the post is refused with RESOURCE_EXHAUSTED,
//! nothing is stored and the public counts stay right; other people are not
//! affected, and a minute later the person may post again. On PostgreSQL a
//! burst of concurrent posts stores exactly the limit.

mod support;

use chrono::Duration;
use inspraak_contributions::ContributionsSettings;
use inspraak_contributions::counters;
use inspraak_contributions::store::discussion::comments;
use inspraak_contributions::store::entities::inputs;
use inspraak_proto::contributions::v1 as proto;
use projects::Permission;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use support::{Backend, Platform, Who, ideation, phase, project, refused};
use tonic::{Code, Status};

use inspraak_proto::projects::v1 as projects;

const INPUTS: u64 = 3;
const COMMENTS: u64 = 4;

async fn platform(backend: Backend) -> (Platform, projects::Project) {
    let settings = ContributionsSettings {
        inputs_per_minute: INPUTS,
        comments_per_minute: COMMENTS,
        ..ContributionsSettings::defaults()
    };
    let platform = Platform::start_with(backend, settings).await;
    let manager = platform.resident();
    let now = platform.now();
    let plan = project(
        &manager,
        vec![phase(
            now - Duration::days(1),
            Some(now + Duration::days(10)),
            ideation(),
            Permission::Registered,
        )],
    );
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    (platform, plan)
}

async fn post_input(
    platform: &Platform,
    plan: &projects::Project,
    who: &Who,
    title: &str,
) -> Result<proto::Input, Status> {
    platform
        .client()
        .create_input(platform.by(
            proto::CreateInputRequest {
                project_id: plan.id.clone(),
                phase_id: plan.phases[0].id.clone(),
                title: title.to_owned(),
                body: "Meer bomen langs de vaart".to_owned(),
                ..Default::default()
            },
            Some(who),
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn post_comment(platform: &Platform, input_id: &str, who: &Who) -> Result<(), Status> {
    platform
        .discussion()
        .post_comment(platform.by(
            proto::PostCommentRequest {
                input_id: input_id.to_owned(),
                body: "Eens, en ook banken".to_owned(),
                ..Default::default()
            },
            Some(who),
        ))
        .await
        .map(|_| ())
}

async fn stored_inputs(platform: &Platform, author: &Who) -> u64 {
    inputs::Entity::find()
        .filter(inputs::Column::AuthorId.eq(author.id.as_str()))
        .count(&platform.server.running.context.db)
        .await
        .expect("count inputs")
}

async fn stored_comments(platform: &Platform, author: &Who) -> u64 {
    comments::Entity::find()
        .filter(comments::Column::AuthorId.eq(author.id.as_str()))
        .count(&platform.server.running.context.db)
        .await
        .expect("count comments")
}

/// The project's public input count.
async fn counted_inputs(platform: &Platform, plan: &projects::Project) -> i64 {
    let project = uuid::Uuid::parse_str(&plan.id).expect("an id");
    counters::totals(
        &platform.server.running.context.db,
        project,
        uuid::Uuid::nil(),
    )
    .await
    .expect("read statistics")
    .map_or(0, |s| s.input_count)
}

async fn a_flood_of_inputs_is_cut_at_the_limit(backend: Backend) {
    let (platform, plan) = platform(backend).await;
    let flooder = platform.resident();
    let neighbour = platform.resident();
    for i in 0..INPUTS {
        post_input(&platform, &plan, &flooder, &format!("Idee {i}"))
            .await
            .expect("within the limit");
    }
    let status = refused(
        post_input(&platform, &plan, &flooder, "Nog een idee").await,
        Code::ResourceExhausted,
        "one input too many",
    );
    assert!(
        status.message().contains("at most 3 inputs a minute"),
        "{status:?}"
    );
    assert_eq!(stored_inputs(&platform, &flooder).await, INPUTS);
    assert_eq!(counted_inputs(&platform, &plan).await, INPUTS as i64);

    // Somebody else is not held back by it.
    post_input(&platform, &plan, &neighbour, "Een bank")
        .await
        .expect("another person's input");
    // A minute later the flooder may post again.
    platform.advance(Duration::seconds(61));
    post_input(&platform, &plan, &flooder, "Na een minuut")
        .await
        .expect("a new minute");
    assert_eq!(stored_inputs(&platform, &flooder).await, INPUTS + 1);
    assert_eq!(counted_inputs(&platform, &plan).await, INPUTS as i64 + 2);
    platform.server.stop().await;
}

async fn a_flood_of_comments_is_cut_at_the_limit(backend: Backend) {
    let (platform, plan) = platform(backend).await;
    let author = platform.resident();
    let flooder = platform.resident();
    let input = post_input(&platform, &plan, &author, "Meer bomen")
        .await
        .expect("an input");
    for _ in 0..COMMENTS {
        post_comment(&platform, &input.id, &flooder)
            .await
            .expect("within the limit");
    }
    let status = refused(
        post_comment(&platform, &input.id, &flooder).await,
        Code::ResourceExhausted,
        "one comment too many",
    );
    assert!(
        status.message().contains("at most 4 comments a minute"),
        "{status:?}"
    );
    assert_eq!(stored_comments(&platform, &flooder).await, COMMENTS);
    let shown = platform
        .client()
        .get_input(platform.by(
            proto::GetInputRequest {
                id: input.id.clone(),
            },
            Some(&author),
        ))
        .await
        .expect("the input")
        .into_inner();
    assert_eq!(shown.comment_count, COMMENTS as i64, "{shown:?}");

    // The author may still answer in the discussion.
    post_comment(&platform, &input.id, &author)
        .await
        .expect("another person's comment");
    platform.advance(Duration::seconds(61));
    post_comment(&platform, &input.id, &flooder)
        .await
        .expect("a new minute");
    assert_eq!(stored_comments(&platform, &flooder).await, COMMENTS + 1);
    platform.server.stop().await;
}

/// Twenty posts at once from one account: exactly the limit is stored,
/// every other call is RESOURCE_EXHAUSTED.
async fn concurrent_posts_store_exactly_the_limit(backend: Backend) {
    let (platform, plan) = platform(backend).await;
    let flooder = platform.resident();
    let calls = (0..20).map(|i| {
        let (platform, plan, flooder) = (&platform, &plan, &flooder);
        async move { post_input(platform, plan, flooder, &format!("Spam {i}")).await }
    });
    let outcomes = futures_util::future::join_all(calls).await;
    let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        }
    }
    assert_eq!(accepted as u64, INPUTS);
    assert_eq!(stored_inputs(&platform, &flooder).await, INPUTS);
    assert_eq!(counted_inputs(&platform, &plan).await, INPUTS as i64);
    platform.server.stop().await;
}

inspraak_host::on_both_databases!(
    a_flood_of_inputs_is_cut_at_the_limit,
    a_flood_of_comments_is_cut_at_the_limit,
    concurrent_posts_store_exactly_the_limit,
);
