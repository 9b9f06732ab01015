//! The decision-makers' report with a controllable clock and two replicas:
//! exactly one per period, with the period's figures; nothing for a period
//! in which nothing happened; on demand for any period, for decision-makers
//! and admins only.

mod support;

use chrono::{Duration, Utc};
use inspraak_notifications::NotificationsService;
use inspraak_notifications::report::{Cadence, last_period, make_due};
use inspraak_proto::events::v1 as events;
use inspraak_proto::notifications::v1 as proto;
use support::{Backend, Platform, TestServer, Who, refused, settings, to, ts};
use tonic::Code;

async fn input(platform: &Platform, project: &str, author: &Who, title: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    create(platform, &id, project, author, title).await;
    id
}

/// Publishes the creation of input `id`.
async fn create(platform: &Platform, id: &str, project: &str, author: &Who, title: &str) {
    platform
        .publish(
            "contributions.input.created.v1",
            1,
            &events::InputCreated {
                input_id: id.to_owned(),
                project_id: project.to_owned(),
                author_id: author.id.clone(),
                title: title.to_owned(),
                created_at: Some(ts(platform.now())),
                ..Default::default()
            },
        )
        .await;
}

/// Publishes the answer to `input` (by `author`, titled `title`), given
/// `seconds` after the input.
async fn answer(
    platform: &Platform,
    project: &str,
    (input, author, title): (&str, &Who, &str),
    seconds: i64,
) {
    platform
        .publish(
            "contributions.feedback.published.v1",
            2,
            &events::FeedbackPublished {
                input_id: input.to_owned(),
                project_id: project.to_owned(),
                input_author_id: author.id.clone(),
                input_title: title.to_owned(),
                answer_seconds: seconds,
                at: Some(ts(platform.now())),
                ..Default::default()
            },
        )
        .await;
}

/// Publishes `input`'s count of support.
async fn support(platform: &Platform, project: &str, input: &str, up: i64, down: i64) {
    platform
        .publish(
            "contributions.reactions.changed.v1",
            3,
            &events::ReactionsChanged {
                input_id: input.to_owned(),
                project_id: project.to_owned(),
                up,
                down,
                at: Some(ts(platform.now())),
            },
        )
        .await;
}

/// The report for `from..to`, asked by `who`.
async fn ask(
    platform: &Platform,
    who: Option<&Who>,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> Result<proto::Report, tonic::Status> {
    let request = platform.by(
        proto::GetReportRequest {
            from: Some(ts(from)),
            to: Some(ts(to)),
        },
        who,
    );
    platform
        .client()
        .get_report(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn once_per_period_with_two_replicas(backend: Backend) {
    let platform = Platform::start(backend).await;
    let replica = TestServer::start(
        NotificationsService::new(settings(&platform.sink)),
        &platform.database,
        &platform.shared,
    )
    .await;
    let maker = platform.person("nl", &["decision_maker"]).await;
    let alice = platform.person("en", &[]).await;
    let bob = platform.person("en", &[]).await;
    let carol = platform.person("en", &[]).await;
    let resident = platform.person("en", &[]).await;
    let project = platform.project("Parkstraat", None).await;
    let first = input(&platform, &project, &alice, "Meer bomen").await;
    let second = input(&platform, &project, &bob, "Een bankje").await;
    answer(&platform, &project, (&first, &alice, "Meer bomen"), 7200).await;
    support(&platform, &project, &second, 5, 1).await;
    platform
        .publish(
            "contributions.comment.posted.v1",
            1,
            &events::CommentPosted {
                comment_id: uuid::Uuid::now_v7().to_string(),
                input_id: first.clone(),
                project_id: project.clone(),
                author_id: carol.id.clone(),
                at: Some(ts(platform.now())),
                ..Default::default()
            },
        )
        .await;
    // So far the decision-maker's rights and Alice's answer.
    let before = platform.mails(2).await.len();
    assert_eq!(before, 2);

    // The weekly period (Monday 08:00 in Brussels) that holds now ends at
    // the last boundary before now + 7 days; just after it, both replicas
    // try at once.
    let zone = chrono_tz::Europe::Brussels;
    let (start, end) = last_period(
        platform.now() + Duration::days(7),
        zone,
        &Cadence::default(),
    );
    assert!(start <= platform.now() && platform.now() < end);
    platform.advance(end - platform.now() + Duration::minutes(1));
    let states = [
        NotificationsService::new(settings(&platform.sink)).state(&platform.server.running.context),
        NotificationsService::new(settings(&platform.sink)).state(&replica.running.context),
    ];
    let (a, b) = tokio::join!(make_due(&states[0]), make_due(&states[1]));
    let made = [a.expect("replica a"), b.expect("replica b")];
    assert_eq!(
        made.iter().filter(|m| **m).count(),
        1,
        "exactly one report: {made:?}"
    );
    assert!(
        !make_due(&states[0]).await.expect("again"),
        "once per period"
    );

    let mails = platform.mails(before + 1).await;
    assert_eq!(mails.len(), before + 1);
    let reports: Vec<_> = to(&mails, &maker)
        .into_iter()
        .filter(|m| m.subject().starts_with("Verslag"))
        .collect();
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0]
            .subject()
            .starts_with("Verslag van de participatie")
    );
    let text = reports[0].text();
    for line in [
        "Parkstraat",
        "Nieuwe bijdragen: 2",
        "Deelnemers: 3",
        "Beantwoord: 50%",
        "Mediane antwoordtijd (uren): 2",
        "Meest gesteund: Een bankje (5)",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(to(&mails, &resident).is_empty());

    // A week in which nothing happened: no report.
    platform.advance(Duration::days(7));
    assert!(!make_due(&states[0]).await.expect("an empty week"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(platform.sink.mails().await.len(), before + 1);

    // On demand, for any period.
    let report = ask(&platform, Some(&maker), start, end)
        .await
        .expect("the report");
    assert_eq!(report.projects.len(), 1);
    let figures = &report.projects[0];
    assert_eq!(figures.title, "Parkstraat");
    assert_eq!((figures.new_inputs, figures.participants), (2, 3));
    assert!((figures.share_answered - 0.5).abs() < 1e-9);
    assert_eq!(figures.median_answer_hours, 2);
    assert_eq!(figures.top_inputs[0].input_id, second);
    assert!(
        ask(&platform, Some(&maker), end, end + Duration::days(7))
            .await
            .expect("empty")
            .projects
            .is_empty()
    );
    refused(
        ask(&platform, Some(&resident), start, end).await,
        Code::PermissionDenied,
        "a resident",
    );
    refused(
        ask(&platform, None, start, end).await,
        Code::Unauthenticated,
        "signed out",
    );
    refused(
        ask(&platform, Some(&maker), end, start).await,
        Code::InvalidArgument,
        "a period backwards",
    );
    replica.stop().await;
    platform.stop().await;
}

/// Facts about an input applied before its creation — the events share a
/// queue but are applied in concurrent transactions, so a commit may
/// overtake an earlier one — count once the creation arrives.
async fn facts_applied_before_the_creation_count(backend: Backend) {
    let platform = Platform::start(backend).await;
    let maker = platform.person("nl", &["decision_maker"]).await;
    let alice = platform.person("en", &[]).await;
    let project = platform.project("Havenkwartier", None).await;
    let start = platform.now();
    let (answered, withdrawn) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    // The answer (two hours after the input), its count of support and an
    // overdue notice that crossed the answer; another input's deletion.
    answer(
        &platform,
        &project,
        (&answered, &alice, "Een speeltuin"),
        7200,
    )
    .await;
    support(&platform, &project, &answered, 4, 0).await;
    platform
        .publish(
            "contributions.input.overdue.v1",
            4,
            &events::InputOverdue {
                input_id: answered.clone(),
                project_id: project.clone(),
                title: "Een speeltuin".to_owned(),
                ..Default::default()
            },
        )
        .await;
    platform
        .publish(
            "contributions.input.deleted.v1",
            2,
            &events::InputChanged {
                input_id: withdrawn.clone(),
                project_id: project.clone(),
                title: "Dubbel".to_owned(),
                at: Some(ts(platform.now())),
                ..Default::default()
            },
        )
        .await;
    let end = platform.now() + Duration::hours(1);
    // Not yet created: answered, but no new input to count.
    let early = ask(&platform, Some(&maker), start, end)
        .await
        .expect("the report");
    assert_eq!(early.projects.len(), 1, "{early:?}");
    assert_eq!(early.projects[0].new_inputs, 0);
    assert_eq!(
        early.projects[0].overdue_inputs, 0,
        "answered, so not overdue"
    );

    create(&platform, &answered, &project, &alice, "Een speeltuin").await;
    create(&platform, &withdrawn, &project, &alice, "Dubbel").await;
    let report = ask(&platform, Some(&maker), start, end)
        .await
        .expect("the report");
    assert_eq!(report.projects.len(), 1, "{report:?}");
    let figures = &report.projects[0];
    assert_eq!(figures.new_inputs, 1, "the deleted one is not counted");
    assert!((figures.share_answered - 1.0).abs() < 1e-9, "{figures:?}");
    assert_eq!(figures.median_answer_hours, 2);
    assert_eq!(figures.overdue_inputs, 0);
    assert_eq!(figures.participants, 1);
    assert_eq!(figures.top_inputs.len(), 1);
    assert_eq!(figures.top_inputs[0].input_id, answered);
    assert_eq!(figures.top_inputs[0].title, "Een speeltuin");
    assert_eq!(figures.top_inputs[0].reactions_up, 4);
    platform.stop().await;
}

inspraak_host::on_both_databases!(
    once_per_period_with_two_replicas,
    facts_applied_before_the_creation_count
);
