//! `inspraak health`: liveness and readiness of every service in one table,
//! through the standard gRPC health service each of them serves.

use std::time::Instant;

use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::cli::context::{Context, Service};
use crate::cli::failure::{Failure, Kind, Result};
use crate::cli::output::Outcome;

struct Health {
    service: Service,
    live: String,
    ready: String,
    millis: u128,
    problem: Option<String>,
}

async fn check(context: &Context, service: Service) -> Health {
    let started = Instant::now();
    let mut health = Health {
        service,
        live: "unknown".into(),
        ready: "unknown".into(),
        millis: 0,
        problem: None,
    };
    let channel = match context.channel(service) {
        Ok(channel) => channel,
        Err(failure) => {
            health.problem = Some(failure.message);
            return health;
        }
    };
    let mut client = HealthClient::new(channel);
    // "" is liveness; the service's own name is readiness (migrations ran,
    // database and broker reachable).
    for (name, slot) in [("", 0), (service.name(), 1)] {
        let answer = client
            .check(HealthCheckRequest {
                service: name.to_owned(),
            })
            .await;
        let word = match answer {
            Ok(reply) => match ServingStatus::try_from(reply.into_inner().status) {
                Ok(ServingStatus::Serving) => "serving".to_owned(),
                Ok(ServingStatus::NotServing) => "not serving".to_owned(),
                _ => "unknown".to_owned(),
            },
            Err(status) => {
                health.problem = Some(match status.code() {
                    tonic::Code::Unavailable => "cannot be reached".to_owned(),
                    _ => format!("{:?}: {}", status.code(), status.message()),
                });
                "down".to_owned()
            }
        };
        if slot == 0 {
            health.live = word;
        } else {
            health.ready = word;
        }
        if health.problem.is_some() {
            // Not reachable for liveness is not ready either.
            health.ready = "down".to_owned();
            break;
        }
    }
    health.millis = started.elapsed().as_millis();
    health
}

pub async fn run(context: &Context) -> Result<Outcome> {
    // A bad URL or CA file is the operator's to fix, not a service that is
    // down: say so before checking anything.
    for service in Service::ALL {
        context.channel(service)?;
    }
    let checks = Service::ALL.map(|service| check(context, service));
    let [a, b, c, d] = checks;
    let results = tokio::join!(a, b, c, d);
    let results = [results.0, results.1, results.2, results.3];
    let mut rows = Vec::new();
    let mut values = Vec::new();
    let mut not_ready = Vec::new();
    for health in &results {
        if health.ready != "serving" {
            not_ready.push(health.service.name());
        }
        rows.push(vec![
            health.service.name().to_owned(),
            context.url(health.service).to_owned(),
            health.live.clone(),
            health.ready.clone(),
            format!("{} ms", health.millis),
            health.problem.clone().unwrap_or_default(),
        ]);
        values.push(json!({
            "service": health.service.name(),
            "url": context.url(health.service),
            "live": health.live,
            "ready": health.ready,
            "latency_ms": health.millis,
            "problem": health.problem,
        }));
    }
    let outcome = Outcome::table(
        vec!["service", "url", "live", "ready", "latency", "problem"],
        rows,
        json!(values),
    );
    Ok(if not_ready.is_empty() {
        outcome
    } else {
        outcome.failing(Failure::new(
            Kind::Unavailable,
            format!("not ready: {}", not_ready.join(", ")),
        ))
    })
}
