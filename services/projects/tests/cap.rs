//! The cap on active projects holds, even when publishes race.

mod support;

use inspraak_proto::projects::v1 as proto;
use support::{Backend, Platform, authed};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simultaneous_publishes_with_three_places_free() {
    let platform = Platform::start(Backend::Postgres).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    // The default cap is 5: two projects are active already.
    for _ in 0..2 {
        let project = platform.project(&admin, &manager, 1, Some(30)).await;
        platform
            .client()
            .publish_project(authed(
                proto::PublishProjectRequest { id: project.id },
                &admin.token,
            ))
            .await
            .unwrap();
    }
    let mut drafts = Vec::new();
    for _ in 0..20 {
        drafts.push(platform.project(&admin, &manager, 1, Some(30)).await.id);
    }
    let publishes = drafts.into_iter().map(|id| {
        let mut client = platform.client();
        let token = admin.token.clone();
        tokio::spawn(async move {
            client
                .publish_project(authed(proto::PublishProjectRequest { id }, &token))
                .await
        })
    });
    let outcomes = futures_util::future::join_all(publishes).await;
    let (mut published, mut refused) = (0, 0);
    for outcome in outcomes {
        match outcome.unwrap() {
            Ok(_) => published += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    status.message().contains("allows 5 active projects"),
                    "{}",
                    status.message()
                );
                refused += 1;
            }
        }
    }
    println!("20 simultaneous publishes, 3 places free: {published} published, {refused} refused");
    assert_eq!((published, refused), (3, 17));
    let active = platform
        .client()
        .list_projects(authed(
            proto::ListProjectsRequest {
                active_only: true,
                page_size: 100,
                ..Default::default()
            },
            &admin.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.projects.len(), 5);
}

async fn the_refusal_names_the_active_projects(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let mut settings = platform
        .client()
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .unwrap()
        .into_inner();
    settings.max_active_projects = 1;
    let etag = settings.etag.clone();
    platform
        .client()
        .update_platform_settings(authed(
            proto::UpdatePlatformSettingsRequest {
                settings: Some(settings),
                etag,
            },
            &admin.token,
        ))
        .await
        .unwrap();
    let first = platform.project(&admin, &manager, 1, Some(30)).await;
    platform
        .client()
        .publish_project(authed(
            proto::PublishProjectRequest {
                id: first.id.clone(),
            },
            &admin.token,
        ))
        .await
        .unwrap();
    let second = platform.project(&admin, &manager, 1, Some(30)).await;
    let refused = platform
        .client()
        .publish_project(authed(
            proto::PublishProjectRequest {
                id: second.id.clone(),
            },
            &admin.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&first.id),
        "{}",
        refused.message()
    );

    // Once the first project's last phase has ended, it no longer counts.
    platform
        .shared
        .clock
        .advance(chrono::Duration::days(31))
        .unwrap();
    // Tokens are short-lived: a month later everyone signs in again.
    let (admin, manager) = (platform.admin(), platform.person(&[], &["public-space"]));
    let late = platform.project(&admin, &manager, 1, Some(30)).await;
    platform
        .client()
        .publish_project(authed(
            proto::PublishProjectRequest { id: late.id },
            &admin.token,
        ))
        .await
        .expect("a place freed up when the first project's last phase ended");
}

inspraak_host::on_both_databases!(the_refusal_names_the_active_projects);
