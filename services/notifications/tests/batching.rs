//! Inputs created are applied several at a time (`Notifier::handle_many`):
//! the same report rows and the same notices as one at a time, and in
//! order with the other events around them.

mod support;

use inspraak_bus::{EventHandler, Joined};
use inspraak_kit::testing::TestDatabase;
use inspraak_notifications::handler::Notifier;
use inspraak_notifications::store::entities::{notifications, report_activity, report_inputs};
use inspraak_proto::events::v1 as events;
use inspraak_proto::events::v1::Envelope;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use support::{Backend, Platform, Shared, Who, ts};

/// One project's worth of inputs created: by a resident, by the project's
/// own manager (nobody is told), awaiting screening (a task), with an input
/// id that does not parse (told, not counted), and in a project without a
/// manager (nobody to tell).
fn inputs_created(
    platform: &Platform,
    project: &str,
    unmanaged: &str,
    resident: &Who,
    manager: &Who,
) -> Vec<Envelope> {
    let at = ts(platform.now());
    let created = |project: &str, input: String, by: &Who, title: &str, status: &str| {
        platform.envelope(
            "contributions.input.created.v1",
            1,
            &events::InputCreated {
                input_id: input,
                project_id: project.to_owned(),
                author_id: by.id.clone(),
                title: title.to_owned(),
                status: status.to_owned(),
                created_at: Some(at),
                ..Default::default()
            },
        )
    };
    let fresh = || uuid::Uuid::now_v7().to_string();
    vec![
        created(project, fresh(), resident, "Benches", "proposed"),
        created(project, fresh(), manager, "Lights", "proposed"),
        created(project, fresh(), resident, "Trees", "prescreening"),
        created(
            project,
            "not-an-id".to_owned(),
            resident,
            "Broken",
            "proposed",
        ),
        created(unmanaged, fresh(), resident, "Fountain", "proposed"),
    ]
}

/// What notifications keeps of `projects`: the notices about what happened
/// in them (recipient, kind, title), the report's inputs (title, created) and
/// activity (who, when), each sorted.
async fn kept(platform: &Platform, projects: [&str; 2]) -> Kept {
    let db = &platform.server.running.context.db;
    let ids: Vec<uuid::Uuid> = projects
        .iter()
        .map(|p| uuid::Uuid::parse_str(p).expect("a project id"))
        .collect();
    let mut notices: Vec<(String, String, String)> = notifications::Entity::find()
        .filter(notifications::Column::ProjectId.is_in(ids.clone()))
        .all(db)
        .await
        .expect("read notices")
        .into_iter()
        // Not the manager's role on the projects, told when each was set up.
        .filter(|n| n.kind != "rights_received")
        .map(|n| (n.user_id, n.kind, n.title))
        .collect();
    notices.sort();
    let mut inputs: Vec<(String, String)> = report_inputs::Entity::find()
        .filter(report_inputs::Column::ProjectId.is_in(ids.clone()))
        .all(db)
        .await
        .expect("read the report's inputs")
        .into_iter()
        .map(|i| (i.title, i.created_at.to_rfc3339()))
        .collect();
    inputs.sort();
    let mut activity: Vec<(String, String)> = report_activity::Entity::find()
        .filter(report_activity::Column::ProjectId.is_in(ids))
        .all(db)
        .await
        .expect("read the report's activity")
        .into_iter()
        .map(|a| (a.user_id, a.at.to_rfc3339()))
        .collect();
    activity.sort();
    Kept {
        notices,
        inputs,
        activity,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Kept {
    notices: Vec<(String, String, String)>,
    inputs: Vec<(String, String)>,
    activity: Vec<(String, String)>,
}

/// PostgreSQL with RabbitMQ, or SQLite with the embedded broker; one
/// transaction at a time, so events are applied in the order they were
/// published (with several at once, a later event may commit before an
/// earlier one, batched or not).
async fn start(backend: Backend) -> Platform {
    let (database, shared) = match backend {
        Backend::Postgres => (TestDatabase::postgres().await, Shared::rabbitmq().await),
        Backend::Sqlite => (TestDatabase::sqlite(), Shared::new().await),
    };
    Platform::start_with(database, shared, &[("BUS_HANDLER_CONCURRENCY", "1")]).await
}

async fn together_as_one_by_one(backend: Backend) {
    let platform = start(backend).await;
    let manager = platform.person("en", &[]).await;
    let resident = platform.person("nl", &[]).await;
    // Alike but for their ids, so their notices read the same.
    let together = platform.project("Benches and trees", Some(&manager)).await;
    let one_by_one = platform.project("Benches and trees", Some(&manager)).await;
    let unmanaged_together = platform.project("Fountains", None).await;
    let unmanaged_one_by_one = platform.project("Fountains", None).await;

    // Applied together, straight through the handler, in one transaction.
    let batch = inputs_created(
        &platform,
        &together,
        &unmanaged_together,
        &resident,
        &manager,
    );
    let span = tracing::Span::none();
    let joined: Vec<Joined<'_>> = batch
        .iter()
        .map(|event| Joined { event, span: &span })
        .collect();
    let notifier = Notifier {
        state: platform.state(),
    };
    assert!(batch.iter().all(|event| notifier.joins(event)));
    let txn = inspraak_kit::db::begin_write(&platform.server.running.context.db)
        .await
        .expect("begin");
    notifier
        .handle_many(&txn, &joined)
        .await
        .expect("the inputs are applied together");
    txn.commit().await.expect("commit");

    // The same, one event at a time through the queue.
    for event in inputs_created(
        &platform,
        &one_by_one,
        &unmanaged_one_by_one,
        &resident,
        &manager,
    ) {
        platform.publish_together(&[event]).await;
    }

    let applied_together = kept(&platform, [&together, &unmanaged_together]).await;
    let applied_alone = kept(&platform, [&one_by_one, &unmanaged_one_by_one]).await;
    assert_eq!(applied_together, applied_alone);
    let told: Vec<(&str, &str)> = applied_together
        .notices
        .iter()
        .map(|(user, kind, _)| (user.as_str(), kind.as_str()))
        .collect();
    assert_eq!(
        told,
        [
            (manager.id.as_str(), "input_posted"),
            (manager.id.as_str(), "input_posted"),
            (manager.id.as_str(), "input_to_screen"),
        ],
        "the manager is told of the resident's inputs, not their own"
    );
    let titles: Vec<&str> = applied_together
        .inputs
        .iter()
        .map(|(title, _)| title.as_str())
        .collect();
    assert_eq!(titles, ["Benches", "Fountain", "Lights", "Trees"]);
    assert_eq!(applied_together.activity.len(), 4);
    platform.stop().await;
}

/// Inputs created and the feedback on one of them, published at once: the
/// feedback finds the input it answers, whichever of them the consumer
/// applied together.
async fn feedback_after_inputs_in_one_burst(backend: Backend) {
    let platform = start(backend).await;
    let manager = platform.person("en", &[]).await;
    let resident = platform.person("nl", &[]).await;
    let project = platform.project("Burst", Some(&manager)).await;
    let unmanaged = platform.project("Burst, unmanaged", None).await;
    let mut burst = inputs_created(&platform, &project, &unmanaged, &resident, &manager);
    let answered = {
        let first = &burst[0];
        let e: events::InputCreated = inspraak_bus::decode_payload(first).expect("the input");
        e.input_id
    };
    burst.push(platform.envelope(
        "contributions.feedback.published.v1",
        2,
        &events::FeedbackPublished {
            feedback_id: uuid::Uuid::now_v7().to_string(),
            input_id: answered.clone(),
            project_id: project.clone(),
            input_author_id: resident.id.clone(),
            input_title: "Benches".to_owned(),
            author_id: manager.id.clone(),
            status: "accepted".to_owned(),
            at: Some(ts(platform.now() + chrono::Duration::hours(2))),
            answer_seconds: 2 * 3600,
            ..Default::default()
        },
    ));
    burst.extend(inputs_created(
        &platform, &project, &unmanaged, &resident, &manager,
    ));
    platform.publish_together(&burst).await;

    let input = report_inputs::Entity::find_by_id(uuid::Uuid::parse_str(&answered).unwrap())
        .one(&platform.server.running.context.db)
        .await
        .expect("read the report")
        .expect("the answered input is in the report");
    assert!(input.first_feedback_at.is_some(), "{input:?}");
    assert_eq!(input.answer_seconds, Some(2 * 3600));
    let kept = kept(&platform, [&project, &unmanaged]).await;
    assert_eq!(kept.inputs.len(), 8, "{:?}", kept.inputs);
    assert_eq!(
        kept.notices
            .iter()
            .filter(|(user, _, _)| *user == manager.id)
            .count(),
        6
    );
    assert!(
        kept.notices.iter().any(|(user, _, _)| *user == resident.id),
        "the resident is told of the feedback: {:?}",
        kept.notices
    );
    platform.stop().await;
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod postgres_rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Sqlite).await;
                }
            )*
        }
    };
}

on_both_backends!(together_as_one_by_one, feedback_after_inputs_in_one_burst);
