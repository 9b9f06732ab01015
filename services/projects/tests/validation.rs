//! Bad phases and texts are refused with a violation naming each field, and
//! change nothing.

mod support;

use chrono::Duration;
use inspraak_proto::projects::v1 as proto;
use support::{Backend, Platform, authed, everyone_registered, ideation, nl, ts};
use tonic::Code;
use tonic_types::StatusExt;

fn fields(status: &tonic::Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    fields
}

fn phase(
    title: proto::LocalizedText,
    from: chrono::DateTime<chrono::Utc>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> proto::Phase {
    proto::Phase {
        id: String::new(),
        title: Some(title),
        description: None,
        starts_at: Some(ts(from)),
        ends_at: to.map(ts),
        method: Some(ideation()),
        permissions: Some(everyone_registered()),
    }
}

async fn phases_must_fit_the_timeline_and_the_locales(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let manager = platform.person(&[], &["public-space"]);
    let project = platform.project(&admin, &manager, 10, Some(20)).await;
    let now = platform.now();
    let mut client = platform.client();
    let create = |phase: proto::Phase| proto::CreatePhaseRequest {
        project_id: project.id.clone(),
        phase: Some(phase),
    };

    let overlapping = client
        .create_phase(authed(
            create(phase(
                nl("Stemmen"),
                now + Duration::days(15),
                Some(now + Duration::days(25)),
            )),
            &manager.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(overlapping.code(), Code::InvalidArgument);
    assert_eq!(fields(&overlapping), ["phase.starts_at"]);

    let backwards = client
        .create_phase(authed(
            create(phase(
                nl("Stemmen"),
                now + Duration::days(40),
                Some(now + Duration::days(30)),
            )),
            &manager.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&backwards), ["phase.ends_at"]);

    let german = proto::LocalizedText {
        text: [
            ("nl".to_owned(), "Stemmen".to_owned()),
            ("de".to_owned(), "Abstimmen".to_owned()),
        ]
        .into(),
    };
    let foreign = client
        .create_phase(authed(
            create(phase(
                german,
                now + Duration::days(30),
                Some(now + Duration::days(40)),
            )),
            &manager.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&foreign), ["phase.title.text[de]"]);

    // All at once: each field named.
    let mut everything = phase(
        proto::LocalizedText {
            text: [("xx".to_owned(), "?".to_owned())].into(),
        },
        now + Duration::days(40),
        Some(now + Duration::days(30)),
    );
    everything.method = None;
    let all = client
        .create_phase(authed(create(everything), &manager.token))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&all),
        [
            "phase.ends_at",
            "phase.method",
            "phase.title.text[nl]",
            "phase.title.text[xx]"
        ]
    );

    // Nothing changed.
    let unchanged = client
        .get_project(authed(
            proto::GetProjectRequest {
                id: project.id.clone(),
            },
            &admin.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.phases.len(), 1);
    assert_eq!(unchanged.etag, project.etag);

    // A phase that fits is accepted.
    client
        .create_phase(authed(
            create(phase(
                nl("Stemmen"),
                now + Duration::days(20),
                Some(now + Duration::days(30)),
            )),
            &manager.token,
        ))
        .await
        .expect("adjacent phase");
}

async fn settings_name_each_bad_value(backend: Backend) {
    let platform = Platform::start(backend).await;
    let admin = platform.admin();
    let mut client = platform.client();
    let current = client
        .get_platform_settings(authed(proto::GetPlatformSettingsRequest {}, &admin.token))
        .await
        .unwrap()
        .into_inner();
    let mut bad = current.clone();
    bad.branding.as_mut().unwrap().primary_color = "red".to_owned();
    bad.time_zone = "Europe/Atlantis".to_owned();
    bad.name = Some(proto::LocalizedText {
        text: [("fr".to_owned(), "Participation".to_owned())].into(),
    });
    bad.locales = vec!["fr".to_owned(), "nl".to_owned()];
    let status = client
        .update_platform_settings(authed(
            proto::UpdatePlatformSettingsRequest {
                settings: Some(bad),
                etag: current.etag.clone(),
            },
            &admin.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&status),
        ["settings.branding.primary_color", "settings.time_zone"]
    );
    // A stale etag.
    let stale = client
        .update_platform_settings(authed(
            proto::UpdatePlatformSettingsRequest {
                settings: Some(current.clone()),
                etag: "settings-v99".to_owned(),
            },
            &admin.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
}

inspraak_host::on_both_databases!(
    phases_must_fit_the_timeline_and_the_locales,
    settings_name_each_bad_value
);
