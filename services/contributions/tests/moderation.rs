//! Moderation through the real gRPC server on PostgreSQL and SQLite:
//! reports, automatic hiding at the charter's threshold (3 in the support's
//! charter), the queue, the audit, and the moderators' decisions.

mod support;

use chrono::Duration;
use inspraak_bus::decode_payload;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use proto::ReportReason;
use proto::moderation_target::Target;
use support::{Backend, Platform, Who, ideation, phase, project, refused};
use tonic::Code;
use tonic_types::StatusExt;

async fn open_project(platform: &Platform, manager: &Who) -> projects::Project {
    let now = platform.now();
    let plan = project(
        manager,
        vec![phase(
            now - Duration::days(1),
            Some(now + Duration::days(30)),
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
    anonymous: bool,
) -> proto::Input {
    platform
        .client()
        .create_input(platform.by(
            proto::CreateInputRequest {
                project_id: plan.id.clone(),
                phase_id: plan.phases[0].id.clone(),
                title: "Een idee om te melden".to_owned(),
                body: "Iets dat sommigen niet bevalt".to_owned(),
                anonymous,
                ..Default::default()
            },
            Some(who),
        ))
        .await
        .expect("post an input")
        .into_inner()
}

fn input_target(input: &proto::Input) -> Option<proto::ModerationTarget> {
    Some(proto::ModerationTarget {
        target: Some(Target::InputId(input.id.clone())),
    })
}

fn report(
    target: Option<proto::ModerationTarget>,
    reason: ReportReason,
    text: &str,
) -> proto::ReportRequest {
    proto::ReportRequest {
        target,
        reason: reason as i32,
        text: text.to_owned(),
    }
}

async fn file(
    platform: &Platform,
    request: proto::ReportRequest,
    who: &Who,
) -> Result<proto::ReportResponse, tonic::Status> {
    platform
        .moderation()
        .report(platform.by(request, Some(who)))
        .await
        .map(tonic::Response::into_inner)
}

async fn get(
    platform: &Platform,
    id: &str,
    who: Option<&Who>,
) -> Result<proto::Input, tonic::Status> {
    platform
        .client()
        .get_input(platform.by(proto::GetInputRequest { id: id.to_owned() }, who))
        .await
        .map(tonic::Response::into_inner)
}

fn moderate(target: Option<proto::ModerationTarget>) -> proto::ModerateRequest {
    proto::ModerateRequest {
        target,
        note: "Bekeken door de moderator".to_owned(),
    }
}

/// Reports count once per person; the third distinct report hides the
/// input from everyone but its author and the staff, and says so.
async fn reports_hide_at_the_threshold(backend: Backend) {
    let platform = Platform::start(backend).await;
    platform.settings_changed(14, 1).await;
    let manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let input = post(&platform, &plan, &author, false).await;
    let [first, second, third] = [
        platform.resident(),
        platform.resident(),
        platform.resident(),
    ];

    let status = refused(
        file(
            &platform,
            report(input_target(&input), ReportReason::Other, " "),
            &first,
        )
        .await,
        Code::InvalidArgument,
        "other without a text",
    );
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, vec!["text"]);
    refused(
        file(
            &platform,
            report(input_target(&input), ReportReason::Unspecified, ""),
            &first,
        )
        .await,
        Code::InvalidArgument,
        "no reason",
    );
    refused(
        file(&platform, report(None, ReportReason::Spam, ""), &first).await,
        Code::InvalidArgument,
        "no target",
    );
    refused(
        file(
            &platform,
            report(input_target(&input), ReportReason::Spam, ""),
            &author,
        )
        .await,
        Code::FailedPrecondition,
        "reporting oneself",
    );
    refused(
        platform
            .moderation()
            .report(platform.by(report(input_target(&input), ReportReason::Spam, ""), None))
            .await,
        Code::Unauthenticated,
        "signed out",
    );

    let one = file(
        &platform,
        report(input_target(&input), ReportReason::Spam, ""),
        &first,
    )
    .await
    .expect("a first report");
    assert!(!one.hidden);
    refused(
        file(
            &platform,
            report(input_target(&input), ReportReason::Inappropriate, ""),
            &first,
        )
        .await,
        Code::AlreadyExists,
        "the same person again",
    );
    let two = file(
        &platform,
        report(
            input_target(&input),
            ReportReason::Other,
            "Reclame voor een winkel",
        ),
        &second,
    )
    .await
    .expect("a second report");
    assert!(!two.hidden, "two of three");
    assert!(get(&platform, &input.id, Some(&first)).await.is_ok());
    let three = file(
        &platform,
        report(input_target(&input), ReportReason::Inappropriate, ""),
        &third,
    )
    .await
    .expect("a third report");
    assert!(three.hidden, "the threshold hides it");

    refused(
        get(&platform, &input.id, Some(&first)).await,
        Code::NotFound,
        "hidden from others",
    );
    refused(
        get(&platform, &input.id, None).await,
        Code::NotFound,
        "hidden from the public",
    );
    assert!(
        get(&platform, &input.id, Some(&author))
            .await
            .expect("its author")
            .hidden
    );
    assert!(
        get(&platform, &input.id, Some(&manager))
            .await
            .expect("the staff")
            .hidden
    );
    let listed = platform
        .client()
        .list_inputs(platform.by(
            proto::ListInputsRequest {
                project_id: plan.id.clone(),
                ..Default::default()
            },
            Some(&first),
        ))
        .await
        .expect("the list")
        .into_inner();
    assert!(listed.inputs.is_empty(), "hidden inputs leave the list");

    let filed: Vec<events::ReportFiled> = platform
        .shared
        .wait_for_events(
            "contributions.report.filed.v1",
            3,
            std::time::Duration::from_secs(10),
        )
        .await
        .iter()
        .map(|e| decode_payload(e).expect("a report"))
        .collect();
    assert_eq!(filed.len(), 3, "refused reports publish nothing");
    assert_eq!(
        filed
            .iter()
            .map(|r| (r.open_reports, r.auto_hidden))
            .collect::<Vec<_>>(),
        vec![(1, false), (2, false), (3, true)]
    );
    let hidden: Vec<events::InputChanged> = platform
        .shared
        .wait_for_events(
            "contributions.input.hidden.v1",
            1,
            std::time::Duration::from_secs(10),
        )
        .await
        .iter()
        .map(|e| decode_payload(e).expect("hidden"))
        .collect();
    assert_eq!(hidden.len(), 1);
    assert_eq!(
        hidden[0].actor_id, "",
        "hidden by the reports, not a person"
    );
}

/// Moderators of the project — and only they — see the queue and the
/// audit (with an anonymous author's real id), and decide.
async fn moderators_work_the_queue(backend: Backend) {
    let platform = Platform::start(backend).await;
    platform.settings_changed(14, 1).await;
    let manager = platform.resident();
    let other_manager = platform.resident();
    let author = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let elsewhere = open_project(&platform, &other_manager).await;
    let input = post(&platform, &plan, &author, true).await;
    let reporters = [
        platform.resident(),
        platform.resident(),
        platform.resident(),
    ];
    for reporter in &reporters {
        file(
            &platform,
            report(input_target(&input), ReportReason::Spam, ""),
            reporter,
        )
        .await
        .expect("a report");
    }
    let queue = |who: &Who, project: &str| {
        let request = platform.by(
            proto::ListQueueRequest {
                project_id: project.to_owned(),
                page_size: 10,
                page_token: String::new(),
            },
            Some(who),
        );
        let mut client = platform.moderation();
        async move {
            client
                .list_queue(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    refused(
        queue(&author, &plan.id).await,
        Code::PermissionDenied,
        "a resident",
    );
    refused(
        queue(&other_manager, &plan.id).await,
        Code::PermissionDenied,
        "another project's manager",
    );
    assert!(
        queue(&other_manager, &elsewhere.id)
            .await
            .expect("their own queue")
            .items
            .is_empty()
    );
    let items = queue(&manager, &plan.id).await.expect("the queue").items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].open_reports, 3);
    assert!(items[0].hidden && items[0].hidden_automatically);
    assert_eq!(
        items[0].author_id, author.id,
        "moderators see who wrote an anonymous input"
    );
    // Residents still never see it.
    assert_eq!(
        get(&platform, &input.id, Some(&author))
            .await
            .expect("author")
            .author_id,
        author.id
    );

    for (who, code, what) in [
        (
            &reporters[0],
            Code::NotFound,
            "a resident cannot even see the hidden input",
        ),
        (
            &other_manager,
            Code::NotFound,
            "another project's manager neither",
        ),
    ] {
        refused(
            platform
                .moderation()
                .dismiss(platform.by(moderate(input_target(&input)), Some(who)))
                .await,
            code,
            what,
        );
    }
    let dismissed = platform
        .moderation()
        .dismiss(platform.by(moderate(input_target(&input)), Some(&manager)))
        .await
        .expect("dismiss")
        .into_inner();
    assert!(!dismissed.hidden, "dismissing undoes what the reports did");
    assert_eq!(dismissed.open_reports, 0);
    assert!(
        queue(&manager, &plan.id)
            .await
            .expect("the queue")
            .items
            .is_empty()
    );
    assert!(
        !get(&platform, &input.id, Some(&reporters[0]))
            .await
            .expect("shown again")
            .hidden
    );

    let hidden = platform
        .moderation()
        .hide(platform.by(moderate(input_target(&input)), Some(&manager)))
        .await
        .expect("hide")
        .into_inner();
    assert!(hidden.hidden && !hidden.hidden_automatically);
    // Dismissing nothing open keeps a moderator's hiding.
    let kept = platform
        .moderation()
        .dismiss(platform.by(moderate(input_target(&input)), Some(&manager)))
        .await
        .expect("dismiss again")
        .into_inner();
    assert!(kept.hidden);
    let restored = platform
        .moderation()
        .restore(platform.by(moderate(input_target(&input)), Some(&manager)))
        .await
        .expect("restore")
        .into_inner();
    assert!(!restored.hidden);

    let audit = platform
        .moderation()
        .get_audit(platform.by(
            proto::GetAuditRequest {
                target: input_target(&input),
            },
            Some(&manager),
        ))
        .await
        .expect("the audit")
        .into_inner();
    assert_eq!(audit.reports.len(), 3);
    assert!(
        audit
            .reports
            .iter()
            .all(|r| r.resolution == "dismissed" && r.resolved_by == manager.id)
    );
    assert_eq!(audit.item.expect("the item").author_id, author.id);
    refused(
        platform
            .moderation()
            .get_audit(platform.by(
                proto::GetAuditRequest {
                    target: input_target(&input),
                },
                Some(&reporters[1]),
            ))
            .await,
        Code::PermissionDenied,
        "a resident reading the audit",
    );
}

/// Comments are reported and hidden the same way.
async fn comments_are_moderated_too(backend: Backend) {
    let platform = Platform::start(backend).await;
    platform.settings_changed(14, 1).await;
    let manager = platform.resident();
    let author = platform.resident();
    let commenter = platform.resident();
    let plan = open_project(&platform, &manager).await;
    let input = post(&platform, &plan, &author, false).await;
    let comment = platform
        .discussion()
        .post_comment(platform.by(
            proto::PostCommentRequest {
                input_id: input.id.clone(),
                body: "Een onaangename reactie".to_owned(),
                ..Default::default()
            },
            Some(&commenter),
        ))
        .await
        .expect("a comment")
        .into_inner();
    let target = Some(proto::ModerationTarget {
        target: Some(Target::CommentId(comment.id.clone())),
    });
    file(
        &platform,
        report(target.clone(), ReportReason::Inappropriate, ""),
        &author,
    )
    .await
    .expect("report the comment");
    let items = platform
        .moderation()
        .list_queue(platform.by(
            proto::ListQueueRequest {
                project_id: plan.id.clone(),
                ..Default::default()
            },
            Some(&manager),
        ))
        .await
        .expect("the queue")
        .into_inner()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].target, target);
    assert_eq!(items[0].author_id, commenter.id);
    assert!(items[0].excerpt.starts_with("Een onaangename"));
    platform
        .moderation()
        .hide(platform.by(moderate(target.clone()), Some(&manager)))
        .await
        .expect("hide the comment");
    let comments = |who: &Who| {
        let request = platform.by(
            proto::ListCommentsRequest {
                input_id: input.id.clone(),
                ..Default::default()
            },
            Some(who),
        );
        let mut client = platform.discussion();
        async move {
            client
                .list_comments(request)
                .await
                .expect("the comments")
                .into_inner()
                .comments
        }
    };
    assert!(comments(&author).await.is_empty(), "hidden from others");
    let own = comments(&commenter).await;
    assert_eq!(own.len(), 1);
    assert!(own[0].hidden, "its author sees it, marked hidden");
    let events: Vec<events::CommentChanged> = platform
        .shared
        .wait_for_events(
            "contributions.comment.hidden.v1",
            1,
            std::time::Duration::from_secs(10),
        )
        .await
        .iter()
        .map(|e| decode_payload(e).expect("hidden"))
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_id, manager.id);
}

inspraak_host::on_both_databases!(
    reports_hide_at_the_threshold,
    moderators_work_the_queue,
    comments_are_moderated_too,
);
