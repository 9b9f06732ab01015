//! The public HTTP side of notifications: the one-click unsubscribe that
//! mail clients POST to (RFC 8058), and a page for people who open the link
//! in a browser.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::mail::templates::escape;
use crate::mail::unsubscribe;
use crate::state::State;

#[derive(Deserialize)]
struct Token {
    token: String,
}

async fn confirm_page(Query(token): Query<Token>) -> Html<String> {
    // Opening a link must change nothing (mail scanners open links): the
    // page asks for the click that POSTs.
    Html(format!(
        "<!DOCTYPE html><html><body><form method=\"post\" action=\"?token={}\">\
         <button type=\"submit\">Unsubscribe / Afmelden / Se désabonner</button></form></body></html>",
        escape(&token.token)
    ))
}

async fn unsubscribe_now(
    AxumState(state): AxumState<State>,
    Query(token): Query<Token>,
) -> (StatusCode, Html<&'static str>) {
    match unsubscribe::apply(&state.db, &token.token).await {
        Ok(Some(_)) => (
            StatusCode::OK,
            Html(
                "<!DOCTYPE html><html><body><p>Unsubscribed. / Afgemeld. / Désabonné.</p></body></html>",
            ),
        ),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html("<!DOCTYPE html><html><body><p>Unknown link.</p></body></html>"),
        ),
        Err(error) => {
            tracing::warn!(%error, "unsubscribing failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<!DOCTYPE html><html><body><p>Please try again later.</p></body></html>"),
            )
        }
    }
}

pub fn router(state: State) -> Router {
    Router::new()
        .route("/unsubscribe", get(confirm_page).post(unsubscribe_now))
        .with_state(state)
}

/// Serves the router on `addr` until `shutdown`.
pub async fn serve(state: State, addr: SocketAddr, shutdown: CancellationToken) {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => serve_on(state, listener, shutdown).await,
        Err(error) => tracing::error!(%error, %addr, "the unsubscribe endpoint cannot listen"),
    }
}

/// Serves the router on `listener` until `shutdown`.
pub async fn serve_on(
    state: State,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) {
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "unsubscribe endpoint listening (/unsubscribe)");
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the unsubscribe endpoint stopped");
    }
}
