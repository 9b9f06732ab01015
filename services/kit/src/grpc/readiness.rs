//! What the health service reports.
//!
//! Liveness (`""`) is SERVING for as long as the process serves at all.
//! Readiness (the service's own name, e.g. `inspraak.identity.v1.Identity`'s
//! short name `identity`) is SERVING only when every condition holds: the
//! migrations ran, the service's own start-up work is done, the database
//! answers, the broker connection is up, and the service is not draining for
//! shutdown.

use std::sync::{Arc, Mutex, PoisonError};

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A condition that readiness depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    Migrated,
    /// The service's own start-up work after the migrations is done
    /// (identity: every stored signing key opened under its key-encryption
    /// key).
    Prepared,
    Database,
    Broker,
    /// False once shutdown has begun, so load balancers stop sending calls.
    NotDraining,
}

#[derive(Debug, Default)]
struct Conditions {
    migrated: bool,
    prepared: bool,
    database: bool,
    broker: bool,
    draining: bool,
}

impl Conditions {
    fn all_met(&self) -> bool {
        self.migrated && self.prepared && self.database && self.broker && !self.draining
    }
}

/// Shared handle that components use to report their state.
#[derive(Clone)]
pub struct Readiness {
    name: String,
    reporter: HealthReporter,
    conditions: Arc<Mutex<Conditions>>,
}

impl Readiness {
    /// Everything starts unmet, so the service is NOT_SERVING until told
    /// otherwise.
    pub fn new(name: impl Into<String>, reporter: HealthReporter) -> Self {
        Self {
            name: name.into(),
            reporter,
            conditions: Arc::new(Mutex::new(Conditions::default())),
        }
    }

    /// The name readiness is reported under.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn set(&self, condition: Condition, met: bool) {
        {
            let mut c = self
                .conditions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match condition {
                Condition::Migrated => c.migrated = met,
                Condition::Prepared => c.prepared = met,
                Condition::Database => c.database = met,
                Condition::Broker => c.broker = met,
                Condition::NotDraining => c.draining = !met,
            }
        }
        self.publish().await;
    }

    /// Reports the current state to the health service.
    pub(crate) async fn publish(&self) {
        let serving = self.is_ready();
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status(&self.name, status).await;
    }

    pub fn is_ready(&self) -> bool {
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .all_met()
    }

    /// The unmet conditions, for logs and the `/readyz` body.
    pub fn unmet(&self) -> Vec<Condition> {
        let c = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut unmet = Vec::new();
        if !c.migrated {
            unmet.push(Condition::Migrated);
        }
        if !c.prepared {
            unmet.push(Condition::Prepared);
        }
        if !c.database {
            unmet.push(Condition::Database);
        }
        if !c.broker {
            unmet.push(Condition::Broker);
        }
        if c.draining {
            unmet.push(Condition::NotDraining);
        }
        unmet
    }
}
