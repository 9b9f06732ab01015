//! `inspraak deliveries`: e-mail that could not be delivered, and sending
//! it again once the address or the relay is fixed.

use inspraak_proto::notifications::v1::{Delivery, ListDeliveriesRequest, RetryDeliveryRequest};
use serde_json::{Value, json};

use crate::cli::api::{Api, call};
use crate::cli::failure::Result;
use crate::cli::output::Outcome;
use crate::cli::tasks::all_pages;
use crate::cli::words::{cell, time};

#[derive(Debug, clap::Subcommand)]
pub enum DeliveriesCommand {
    /// Deliveries that failed for good, newest first, with their reason
    #[command(after_help = "Example:\n  inspraak deliveries failed -o json")]
    Failed {
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Deliveries in any state: pending, sent, retrying, failed, digest
    #[command(after_help = "Example:\n  inspraak deliveries list --state retrying")]
    List {
        #[arg(long)]
        state: Option<String>,
        /// Only this person's (id)
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Send a failed delivery again
    #[command(after_help = "Example:\n  inspraak deliveries retry 0190f3a2-…")]
    Retry { id: String },
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "user_id": d.user_id,
        "channel": d.channel,
        "kind": d.kind,
        "state": d.state,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created_at": time(&d.created_at),
        "sent_at": time(&d.sent_at),
    })
}

async fn list(api: &mut Api, state: String, user_id: String, limit: usize) -> Result<Outcome> {
    let deliveries = all_pages!(
        limit,
        |token| call!(
            api,
            notifications.list_deliveries(ListDeliveriesRequest {
                state: state.clone(),
                user_id: user_id.clone(),
                page_size: 100,
                page_token: token.clone(),
            }),
            "listing deliveries"
        )?,
        deliveries
    );
    let rows = deliveries
        .iter()
        .map(|d| {
            vec![
                time(&d.created_at),
                d.kind.clone(),
                d.state.clone(),
                d.attempts.to_string(),
                cell(&d.last_error, 50),
                d.id.clone(),
            ]
        })
        .collect();
    Ok(Outcome::table(
        vec!["created", "kind", "state", "attempts", "last error", "id"],
        rows,
        json!(deliveries.iter().map(delivery_json).collect::<Vec<_>>()),
    ))
}

pub async fn run(api: &mut Api, command: DeliveriesCommand) -> Result<Outcome> {
    match command {
        DeliveriesCommand::Failed { limit } => {
            list(api, "failed".into(), String::new(), limit).await
        }
        DeliveriesCommand::List { state, user, limit } => {
            list(
                api,
                state.unwrap_or_default(),
                user.unwrap_or_default(),
                limit,
            )
            .await
        }
        DeliveriesCommand::Retry { id } => {
            let delivery = call!(
                api,
                notifications.retry_delivery(RetryDeliveryRequest { id }),
                "retrying the delivery"
            )?;
            Ok(Outcome::text(
                format!("delivery {} is {} again", delivery.id, delivery.state),
                delivery_json(&delivery),
            ))
        }
    }
}
