//! The one-click unsubscribe (RFC 8058) with the token from a real mail:
//! opening the link changes nothing, the POST turns that category off and
//! no other, an unknown token is 404; the RPC does the same; transactional
//! mail has no such link and still arrives with every category off.

mod support;

use std::time::Duration as StdDuration;

use inspraak_notifications::http;
use inspraak_proto::notifications::v1 as proto;
use proto::{Category as C, Frequency as F};
use support::smtp::Mail;
use support::{Backend, Platform, Who, refused, to};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// The token in a mail's `List-Unsubscribe` header.
fn token_of(mail: &Mail) -> String {
    let link = mail.header("List-Unsubscribe").expect("a one-click link");
    let url = link
        .strip_prefix("<https://inspraak.city.example/unsubscribe?token=")
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or_else(|| panic!("not our link: {link}"));
    assert!(!url.is_empty() && !url.contains(['&', '?', '>']), "{url}");
    url.to_owned()
}

/// One HTTP/1.1 exchange over a raw TCP connection: the status code and
/// the body.
async fn http(addr: std::net::SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the endpoint");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut response = String::new();
    tokio::time::timeout(
        StdDuration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("an answer in time")
    .expect("read the answer");
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or_else(String::new, |(_, b)| b.to_owned());
    (status, body)
}

async fn frequency(platform: &Platform, who: &Who, category: C) -> i32 {
    platform
        .client()
        .get_preferences(platform.by(proto::GetPreferencesRequest {}, Some(who)))
        .await
        .expect("the preferences")
        .into_inner()
        .preferences
        .iter()
        .find(|p| p.category == category as i32)
        .map(|p| p.frequency)
        .expect("the category")
}

async fn one_click_turns_one_category_off(backend: Backend) {
    let platform = Platform::start(backend).await;
    let fay = platform.person("en", &[]).await;
    let project = platform.project("Harbour Walk", None).await;
    let input = uuid::Uuid::now_v7().to_string();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the endpoint");
    let addr = listener.local_addr().expect("its address");
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(http::serve_on(platform.state(), listener, shutdown.clone()));

    platform.comment(&fay, &project, &input, "Benches").await;
    let mails = platform.mails(1).await;
    let first = to(&mails, &fay);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].subject(), "A comment on \"Benches\"");
    assert_eq!(
        first[0].header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let token = token_of(first[0]);
    assert!(
        first[0]
            .text()
            .contains(&format!("unsubscribe?token={token}")),
        "the link is in the text too: {}",
        first[0].text()
    );
    assert!(
        first[0]
            .html()
            .contains(&format!("unsubscribe?token={token}")),
        "{}",
        first[0].html()
    );

    // Opening the link (as a mail scanner does) changes nothing.
    let (status, page) = http(addr, "GET", &format!("/unsubscribe?token={token}"), "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(page.contains(&token), "{page}");
    assert_eq!(
        frequency(&platform, &fay, C::Comments).await,
        F::Instant as i32
    );
    platform.comment(&fay, &project, &input, "Benches").await;
    assert_eq!(platform.mails(2).await.len(), 2, "still subscribed");

    // The one click.
    let (status, page) = http(
        addr,
        "POST",
        &format!("/unsubscribe?token={token}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Unsubscribed"), "{page}");
    assert_eq!(frequency(&platform, &fay, C::Comments).await, F::Off as i32);
    for other in [C::Feedback, C::Staff] {
        assert_eq!(frequency(&platform, &fay, other).await, F::Instant as i32);
    }
    // Twice is fine: still off.
    let (status, _) = http(
        addr,
        "POST",
        &format!("/unsubscribe?token={token}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 200);

    platform.comment(&fay, &project, &input, "Benches").await;
    platform.feedback(&fay, &project, &input, "Benches").await;
    let mails = platform.mails(3).await;
    assert_eq!(mails.len(), 3, "the feedback only");
    assert_eq!(mails[2].subject(), "An answer to your input \"Benches\"");
    assert_eq!(
        platform
            .deliveries_of(&fay)
            .await
            .iter()
            .filter(|d| d.kind == "comment_on_your_input")
            .count(),
        2,
        "no delivery for the comment after unsubscribing"
    );

    // An unknown token.
    let (status, page) = http(
        addr,
        "POST",
        "/unsubscribe?token=no-such-token",
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 404, "{page}");
    assert_eq!(
        frequency(&platform, &fay, C::Feedback).await,
        F::Instant as i32
    );

    shutdown.cancel();
    serving.await.expect("the endpoint stops");
    platform.stop().await;
}

async fn the_rpc_unsubscribes_too(backend: Backend) {
    let platform = Platform::start(backend).await;
    let gus = platform.person("en", &[]).await;
    let project = platform.project("Harbour Walk", None).await;
    let input = uuid::Uuid::now_v7().to_string();
    platform.feedback(&gus, &project, &input, "Trees").await;
    platform.comment(&gus, &project, &input, "Trees").await;
    let mails = platform.mails(2).await;
    let feedback = mails
        .iter()
        .find(|m| m.subject().starts_with("An answer"))
        .expect("the feedback mail");
    let comment = mails
        .iter()
        .find(|m| m.subject().starts_with("A comment"))
        .expect("the comment mail");
    let token = token_of(feedback);
    assert_ne!(token, token_of(comment), "one token per category");

    // Anyone holding the token: no sign-in needed.
    let answer = platform
        .client()
        .unsubscribe(platform.by(
            proto::UnsubscribeRequest {
                token: token.clone(),
            },
            None,
        ))
        .await
        .expect("unsubscribed")
        .into_inner();
    assert_eq!(answer.category, C::Feedback as i32);
    assert_eq!(frequency(&platform, &gus, C::Feedback).await, F::Off as i32);
    assert_eq!(
        frequency(&platform, &gus, C::Comments).await,
        F::Instant as i32
    );

    refused(
        platform
            .client()
            .unsubscribe(platform.by(
                proto::UnsubscribeRequest {
                    token: "no-such-token".to_owned(),
                },
                None,
            ))
            .await,
        Code::NotFound,
        "an unknown token",
    );
    refused(
        platform
            .client()
            .unsubscribe(platform.by(
                proto::UnsubscribeRequest {
                    token: " ".to_owned(),
                },
                None,
            ))
            .await,
        Code::InvalidArgument,
        "no token",
    );

    platform.feedback(&gus, &project, &input, "Trees").await;
    platform.comment(&gus, &project, &input, "Trees").await;
    let mails = platform.mails(3).await;
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2].subject(), "A comment on \"Trees\"");
    platform.stop().await;
}

async fn codes_arrive_with_every_category_off(backend: Backend) {
    let platform = Platform::start(backend).await;
    let hal = platform.person("en", &[]).await;
    let all_off: Vec<proto::Preference> = [
        C::Feedback,
        C::Comments,
        C::Projects,
        C::Staff,
        C::Announcements,
        C::Reports,
    ]
    .into_iter()
    .map(|category| proto::Preference {
        category: category as i32,
        frequency: F::Off as i32,
    })
    .collect();
    let answer = platform
        .client()
        .update_preferences(platform.by(
            proto::UpdatePreferencesRequest {
                preferences: all_off,
            },
            Some(&hal),
        ))
        .await
        .expect("all off")
        .into_inner();
    assert!(
        answer
            .preferences
            .iter()
            .all(|p| p.frequency == F::Off as i32)
    );
    assert_eq!(answer.preferences.len(), 6);

    let project = platform.project("Harbour Walk", None).await;
    platform
        .comment(&hal, &project, &uuid::Uuid::now_v7().to_string(), "Dunes")
        .await;
    platform.confirmation(&hal, "482913").await;
    let mails = platform.mails(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, [hal.email.as_str()]);
    assert_eq!(mails[0].subject(), "Your confirmation code");
    assert!(mails[0].text().contains("482913"));
    assert_eq!(mails[0].header("List-Unsubscribe"), None);
    assert_eq!(mails[0].header("List-Unsubscribe-Post"), None);
    platform.stop().await;
}

inspraak_host::on_both_databases!(
    one_click_turns_one_category_off,
    the_rpc_unsubscribes_too,
    codes_arrive_with_every_category_off,
);
