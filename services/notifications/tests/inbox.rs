//! The in-app inbox: newest first in keyset pages, unread counts, marking
//! read (only one's own), the live stream; erasure of a person; and who may
//! call what, cell by cell.

mod support;

use std::time::Duration as StdDuration;

use chrono::Duration;
use inspraak_notifications::store::entities::{notifications, preferences};
use inspraak_proto::notifications::v1 as proto;
use proto::{Category as C, Frequency as F};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use support::{Backend, Platform, Who, refused, to};
use tonic::Code;

async fn list(
    platform: &Platform,
    who: &Who,
    request: proto::ListNotificationsRequest,
) -> proto::ListNotificationsResponse {
    platform
        .client()
        .list_notifications(platform.by(request, Some(who)))
        .await
        .expect("the inbox")
        .into_inner()
}

/// The input titles of a page, in its order.
fn titles(page: &[proto::Notification]) -> Vec<String> {
    page.iter()
        .map(|n| {
            n.title
                .split('"')
                .nth(1)
                .unwrap_or(n.title.as_str())
                .to_owned()
        })
        .collect()
}

async fn unread(platform: &Platform, who: &Who) -> i64 {
    platform
        .client()
        .get_unread_count(platform.by(proto::GetUnreadCountRequest {}, Some(who)))
        .await
        .expect("the unread count")
        .into_inner()
        .unread
}

async fn rows_of(platform: &Platform, who: &Who) -> Vec<notifications::Model> {
    notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(who.id.as_str()))
        .all(&platform.server.running.context.db)
        .await
        .expect("read notifications")
}

async fn next(
    stream: &mut tonic::Streaming<proto::Notification>,
    what: &str,
) -> proto::Notification {
    tokio::time::timeout(StdDuration::from_secs(10), stream.message())
        .await
        .unwrap_or_else(|_| panic!("waited in vain for {what}"))
        .expect("the stream goes on")
        .expect("a notification")
}

fn input() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn the_inbox_pages_counts_and_marks(backend: Backend) {
    let platform = Platform::start(backend).await;
    let owner = platform.person("en", &[]).await;
    let other = platform.person("en", &[]).await;
    let project = platform.project("Harbour Walk", None).await;
    for title in ["One", "Two", "Three", "Four", "Five"] {
        platform.comment(&owner, &project, &input(), title).await;
    }
    platform.comment(&other, &project, &input(), "Theirs").await;

    // Newest first, in keyset pages.
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            &platform,
            &owner,
            proto::ListNotificationsRequest {
                page_size: 2,
                page_token: token.clone(),
                unread_only: false,
            },
        )
        .await;
        pages.push(titles(&page.notifications));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        pages,
        [vec!["Five", "Four"], vec!["Three", "Two"], vec!["One"]]
    );
    let all = list(
        &platform,
        &owner,
        proto::ListNotificationsRequest::default(),
    )
    .await
    .notifications;
    assert_eq!(all.len(), 5);
    assert!(
        all.iter()
            .all(|n| !n.read && n.kind == "comment_on_your_input")
    );
    assert!(all.iter().all(|n| n.project_id == project));
    assert_eq!(unread(&platform, &owner).await, 5);
    refused(
        platform
            .client()
            .list_notifications(platform.by(
                proto::ListNotificationsRequest {
                    page_token: "not-a-token".to_owned(),
                    ..Default::default()
                },
                Some(&owner),
            ))
            .await,
        Code::InvalidArgument,
        "a made-up page token",
    );

    // Marking read: Four and Two.
    let id = |title: &str| {
        all.iter()
            .find(|n| n.title.contains(&format!("\"{title}\"")))
            .map(|n| n.id.clone())
            .expect("a notification")
    };
    let marked = platform
        .client()
        .mark_read(platform.by(
            proto::MarkReadRequest {
                ids: vec![id("Four"), id("Two")],
            },
            Some(&owner),
        ))
        .await
        .expect("marked")
        .into_inner()
        .marked;
    assert_eq!(marked, 2);
    let again = platform
        .client()
        .mark_read(platform.by(
            proto::MarkReadRequest {
                ids: vec![id("Four")],
            },
            Some(&owner),
        ))
        .await
        .expect("marked again")
        .into_inner()
        .marked;
    assert_eq!(again, 0, "read already");
    assert_eq!(unread(&platform, &owner).await, 3);
    let unread_page = list(
        &platform,
        &owner,
        proto::ListNotificationsRequest {
            unread_only: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(titles(&unread_page.notifications), ["Five", "Three", "One"]);
    let first_unread = list(
        &platform,
        &owner,
        proto::ListNotificationsRequest {
            unread_only: true,
            page_size: 2,
            page_token: String::new(),
        },
    )
    .await;
    assert_eq!(titles(&first_unread.notifications), ["Five", "Three"]);
    let rest = list(
        &platform,
        &owner,
        proto::ListNotificationsRequest {
            unread_only: true,
            page_size: 2,
            page_token: first_unread.next_page_token,
        },
    )
    .await;
    assert_eq!(titles(&rest.notifications), ["One"]);
    assert!(rest.next_page_token.is_empty());

    // Someone else's id: NOT_FOUND, and nothing marked — not even the
    // caller's own id named with it.
    let theirs = list(
        &platform,
        &other,
        proto::ListNotificationsRequest::default(),
    )
    .await
    .notifications;
    assert_eq!(titles(&theirs), ["Theirs"]);
    refused(
        platform
            .client()
            .mark_read(platform.by(
                proto::MarkReadRequest {
                    ids: vec![theirs[0].id.clone(), id("Five")],
                },
                Some(&other),
            ))
            .await,
        Code::NotFound,
        "someone else's notification",
    );
    assert_eq!(unread(&platform, &owner).await, 3);
    assert_eq!(unread(&platform, &other).await, 1);
    refused(
        platform
            .client()
            .mark_read(platform.by(
                proto::MarkReadRequest {
                    ids: vec![uuid::Uuid::now_v7().to_string()],
                },
                Some(&owner),
            ))
            .await,
        Code::NotFound,
        "a made-up id",
    );

    // Mark all read: the caller's, nobody else's.
    let all_marked = platform
        .client()
        .mark_all_read(platform.by(proto::MarkAllReadRequest {}, Some(&owner)))
        .await
        .expect("all marked")
        .into_inner()
        .marked;
    assert_eq!(all_marked, 3);
    assert_eq!(unread(&platform, &owner).await, 0);
    assert_eq!(unread(&platform, &other).await, 1);
    assert!(
        list(
            &platform,
            &owner,
            proto::ListNotificationsRequest::default()
        )
        .await
        .notifications
        .iter()
        .all(|n| n.read)
    );
    platform.stop().await;
}

async fn the_stream_pushes_what_is_new(backend: Backend) {
    let platform = Platform::start(backend).await;
    let owner = platform.person("en", &[]).await;
    let project = platform.project("Harbour Walk", None).await;
    platform.comment(&owner, &project, &input(), "Old").await;

    let mut stream = platform
        .client()
        .stream_notifications(platform.by(proto::StreamNotificationsRequest {}, Some(&owner)))
        .await
        .expect("the stream opens")
        .into_inner();
    platform.comment(&owner, &project, &input(), "New").await;
    let first = next(&mut stream, "the new notification").await;
    assert_eq!(
        titles(std::slice::from_ref(&first)),
        ["New"],
        "not the old one"
    );
    assert_eq!(first.kind, "comment_on_your_input");
    assert!(!first.read);
    platform.comment(&owner, &project, &input(), "Newer").await;
    let second = next(&mut stream, "the newer notification").await;
    assert_eq!(titles(std::slice::from_ref(&second)), ["Newer"]);
    // Nothing else is pending on the stream.
    assert!(
        tokio::time::timeout(StdDuration::from_millis(800), stream.message())
            .await
            .is_err(),
        "only what is new"
    );
    drop(stream);
    platform.stop().await;
}

async fn an_erased_person_leaves_nothing_and_gets_nothing(backend: Backend) {
    let platform = Platform::start(backend).await;
    let gone = platform.person("en", &[]).await;
    let kept = platform.person("en", &[]).await;
    let project = platform.project("Harbour Walk", None).await;
    platform.follow_project(&gone, &project).await;
    let mine = input();
    platform
        .client()
        .update_preferences(platform.by(
            proto::UpdatePreferencesRequest {
                preferences: vec![proto::Preference {
                    category: C::Feedback as i32,
                    frequency: F::Weekly as i32,
                }],
            },
            Some(&gone),
        ))
        .await
        .expect("a choice");
    // One mail sent, one waiting for a digest, one retrying.
    platform.comment(&gone, &project, &mine, "Benches").await;
    let mails = platform.mails(1).await;
    let link = to(&mails, &gone)[0]
        .header("List-Unsubscribe")
        .expect("a link");
    let token = link
        .trim_matches(['<', '>'])
        .split_once("token=")
        .map(|(_, t)| t.to_owned())
        .expect("a token");
    platform.update(&project, "Works start Monday").await;
    platform.feedback(&gone, &project, &mine, "Benches").await;
    platform.sink.set_down(true);
    platform.comment(&gone, &project, &mine, "Benches").await;
    platform
        .wait_until("a failed attempt", || async {
            platform
                .deliveries_of(&gone)
                .await
                .iter()
                .any(|d| d.state == "retrying")
        })
        .await;
    let mut states: Vec<String> = platform
        .deliveries_of(&gone)
        .await
        .into_iter()
        .map(|d| d.state)
        .collect();
    states.sort();
    assert_eq!(states, ["digest", "digest", "retrying", "sent"]);
    assert_eq!(rows_of(&platform, &gone).await.len(), 4);
    platform.sink.set_down(false);

    platform
        .publish(
            "identity.user.deleted.v1",
            9,
            &inspraak_proto::events::v1::UserDeleted {
                user_id: gone.id.clone(),
            },
        )
        .await;
    assert!(
        rows_of(&platform, &gone).await.is_empty(),
        "the inbox is gone"
    );
    assert_eq!(unread(&platform, &gone).await, 0);
    let chosen = preferences::Entity::find()
        .filter(preferences::Column::UserId.eq(gone.id.as_str()))
        .all(&platform.server.running.context.db)
        .await
        .expect("read preferences");
    assert!(chosen.is_empty(), "the preferences are gone: {chosen:?}");
    let left = platform.deliveries_of(&gone).await;
    assert_eq!(left.len(), 1, "only the record of what was sent");
    assert_eq!(left[0].state, "sent");
    assert_eq!(left[0].content, serde_json::json!({}));
    assert_eq!(left[0].address, None);
    refused(
        platform
            .client()
            .unsubscribe(platform.by(proto::UnsubscribeRequest { token }, None))
            .await,
        Code::NotFound,
        "the erased person's token",
    );

    // Nothing waits and nothing new comes: past the back-off, the digest
    // times, and with new events about them.
    platform.advance(Duration::days(8));
    platform.comment(&gone, &project, &mine, "Benches").await;
    platform.feedback(&gone, &project, &input(), "Lights").await;
    platform.update(&project, "Works are done").await;
    platform
        .publish(
            "identity.user.registered.v1",
            1,
            &inspraak_proto::events::v1::UserRegistered {
                user_id: gone.id.clone(),
                email: gone.email.clone(),
                display_name: "Back again".to_owned(),
                locale: "en".to_owned(),
                email_confirmed: true,
            },
        )
        .await;
    platform.comment(&gone, &project, &mine, "Benches").await;
    // The control: someone else still gets mail.
    platform.comment(&kept, &project, &input(), "Kiosk").await;
    let mails = platform.mails(2).await;
    assert_eq!(
        mails.len(),
        2,
        "{:?}",
        mails.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    assert_eq!(to(&mails, &gone).len(), 1, "only the mail sent before");
    assert_eq!(to(&mails, &kept).len(), 1);
    assert!(rows_of(&platform, &gone).await.is_empty());
    assert_eq!(platform.deliveries_of(&gone).await.len(), 1);
    platform.stop().await;
}

/// Every RPC × the owner, another resident, a platform admin and a caller
/// signed out: the exact outcome, and nobody sees or changes another
/// person's inbox or preferences.
async fn the_authorisation_matrix(backend: Backend) {
    let platform = Platform::start(backend).await;
    let owner = platform.person("en", &[]).await;
    let other = platform.person("en", &[]).await;
    let admin = platform.person("en", &["platform_admin"]).await;
    let project = platform.project("Harbour Walk", None).await;
    platform
        .comment(&owner, &project, &input(), "Owner's")
        .await;
    platform
        .comment(&other, &project, &input(), "Other's")
        .await;
    platform
        .comment(&admin, &project, &input(), "Admin's")
        .await;
    platform
        .client()
        .update_preferences(platform.by(
            proto::UpdatePreferencesRequest {
                preferences: vec![proto::Preference {
                    category: C::Comments as i32,
                    frequency: F::Daily as i32,
                }],
            },
            Some(&owner),
        ))
        .await
        .expect("the owner's choice");
    let owners_notification = rows_of(&platform, &owner).await[0].id.to_string();
    let client = platform.client();
    let callers: [(&str, Option<&Who>); 4] = [
        ("another resident", Some(&other)),
        ("a platform admin", Some(&admin)),
        ("signed out", None),
        ("the owner", Some(&owner)),
    ];
    let mut cells = 0;
    let mine = |who: &Who| -> &'static str {
        if who.id == owner.id {
            "Owner's"
        } else if who.id == other.id {
            "Other's"
        } else {
            "Admin's"
        }
    };

    // ListNotifications: each sees their own, nobody the owner's.
    for (name, who) in callers {
        let outcome = client
            .clone()
            .list_notifications(platform.by(proto::ListNotificationsRequest::default(), who))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) => {
                let seen = titles(&outcome.expect(name).into_inner().notifications);
                let comments: Vec<&String> = seen.iter().filter(|t| t.ends_with("'s")).collect();
                assert_eq!(comments, [mine(who)], "{name}: {seen:?}");
                let expected = if who.id == admin.id { 2 } else { 1 };
                assert_eq!(seen.len(), expected, "{name}: {seen:?}");
            }
        }
        cells += 1;
    }

    // GetUnreadCount: one's own count (the admin's rights are news too).
    for (name, who) in callers {
        let outcome = client
            .clone()
            .get_unread_count(platform.by(proto::GetUnreadCountRequest {}, who))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) => {
                let expected = if who.id == admin.id { 2 } else { 1 };
                assert_eq!(outcome.expect(name).into_inner().unread, expected, "{name}");
            }
        }
        cells += 1;
    }

    // MarkRead of the owner's notification: only the owner.
    for (name, who) in callers {
        let outcome = client
            .clone()
            .mark_read(platform.by(
                proto::MarkReadRequest {
                    ids: vec![owners_notification.clone()],
                },
                who,
            ))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) if who.id == owner.id => {
                assert_eq!(outcome.expect(name).into_inner().marked, 1, "{name}");
                assert_eq!(unread(&platform, &owner).await, 0);
            }
            Some(_) => {
                refused(outcome, Code::NotFound, name);
                assert_eq!(unread(&platform, &owner).await, 1, "{name} marked nothing");
            }
        }
        cells += 1;
    }

    // MarkAllRead: the caller's own only.
    platform
        .comment(&owner, &project, &input(), "Owner's")
        .await;
    for (name, who) in callers {
        let outcome = client
            .clone()
            .mark_all_read(platform.by(proto::MarkAllReadRequest {}, who))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) => {
                let expected = if who.id == admin.id { 2 } else { 1 };
                assert_eq!(outcome.expect(name).into_inner().marked, expected, "{name}");
                assert_eq!(unread(&platform, who).await, 0, "{name}");
            }
        }
        let owners = if matches!(who, Some(w) if w.id == owner.id) {
            0
        } else {
            1
        };
        assert_eq!(unread(&platform, &owner).await, owners, "after {name}");
        cells += 1;
    }

    // GetPreferences: one's own (the owner's choice shows to nobody else).
    for (name, who) in callers {
        let outcome = client
            .clone()
            .get_preferences(platform.by(proto::GetPreferencesRequest {}, who))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) => {
                let seen: Vec<(i32, i32)> = outcome
                    .expect(name)
                    .into_inner()
                    .preferences
                    .iter()
                    .map(|p| (p.category, p.frequency))
                    .collect();
                let comments = if who.id == owner.id {
                    F::Daily
                } else {
                    F::Instant
                };
                let reports = if who.id == admin.id {
                    F::Instant
                } else {
                    F::Off
                };
                assert!(
                    seen.contains(&(C::Comments as i32, comments as i32)),
                    "{name}: {seen:?}"
                );
                assert!(
                    seen.contains(&(C::Reports as i32, reports as i32)),
                    "{name}: {seen:?}"
                );
            }
        }
        cells += 1;
    }

    // UpdatePreferences: changes the caller's own only.
    let projects_of = |who: &Who| {
        let who = who.clone();
        let db = platform.server.running.context.db.clone();
        async move {
            preferences::Entity::find()
                .filter(preferences::Column::UserId.eq(who.id.as_str()))
                .filter(preferences::Column::Category.eq("projects"))
                .one(&db)
                .await
                .expect("read preferences")
                .map(|p| p.frequency)
        }
    };
    for (name, who) in callers {
        let outcome = client
            .clone()
            .update_preferences(platform.by(
                proto::UpdatePreferencesRequest {
                    preferences: vec![proto::Preference {
                        category: C::Projects as i32,
                        frequency: F::Off as i32,
                    }],
                },
                who,
            ))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) => {
                let answer = outcome.expect(name).into_inner();
                assert!(answer.preferences.contains(&proto::Preference {
                    category: C::Projects as i32,
                    frequency: F::Off as i32,
                }));
                assert_eq!(projects_of(who).await.as_deref(), Some("off"), "{name}");
            }
        }
        let owner_changed = matches!(who, Some(w) if w.id == owner.id);
        assert_eq!(
            projects_of(&owner).await.as_deref(),
            owner_changed.then_some("off"),
            "the owner's after {name}"
        );
        cells += 1;
    }

    // ListDeliveries: platform admins only.
    for (name, who) in callers {
        let outcome = client
            .clone()
            .list_deliveries(platform.by(
                proto::ListDeliveriesRequest {
                    user_id: owner.id.clone(),
                    ..Default::default()
                },
                who,
            ))
            .await;
        match who {
            None => drop(refused(outcome, Code::Unauthenticated, name)),
            Some(who) if who.id == admin.id => {
                let listed = outcome.expect(name).into_inner().deliveries;
                assert_eq!(listed.len(), 2, "the owner's two comments");
                assert!(listed.iter().all(|d| d.user_id == owner.id));
            }
            Some(_) => drop(refused(outcome, Code::PermissionDenied, name)),
        }
        cells += 1;
    }

    // StreamNotifications: each stream carries its caller's only. The
    // owner's news is published first, so a stream that leaked it would
    // show it first.
    let mut streams = Vec::new();
    for (name, who) in callers {
        let outcome = client
            .clone()
            .stream_notifications(platform.by(proto::StreamNotificationsRequest {}, who))
            .await;
        match who {
            None => drop(refused(outcome.map(|_| ()), Code::Unauthenticated, name)),
            Some(who) => streams.push((name, who, outcome.expect(name).into_inner())),
        }
        cells += 1;
    }
    for who in [&owner, &other, &admin] {
        platform.comment(who, &project, &input(), "Live").await;
    }
    for (name, who, stream) in &mut streams {
        let first = next(stream, name).await;
        let row = rows_of(&platform, who)
            .await
            .into_iter()
            .max_by_key(|n| n.id)
            .expect("the newest");
        assert_eq!(first.id, row.id.to_string(), "{name} got only their own");
    }
    drop(streams);

    println!("authorisation matrix: {cells} cells checked");
    assert_eq!(cells, 8 * 4);
    platform.stop().await;
}

inspraak_host::on_both_databases!(
    the_inbox_pages_counts_and_marks,
    the_stream_pushes_what_is_new,
    an_erased_person_leaves_nothing_and_gets_nothing,
    the_authorisation_matrix,
);
