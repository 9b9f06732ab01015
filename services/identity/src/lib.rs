//! The identity service of Inspraak. It owns who someone is: people,
//! credentials, sessions and the keys that sign their tokens, platform roles,
//! departments and the registration policy. Every other service verifies the
//! access tokens it signs.
//!
//! It runs alone (`inspraak-identity`, or `inspraak serve identity`) or with
//! the other three in one process (`inspraak all`).

pub mod access;
pub mod accounts;
pub mod bootstrap;
pub mod departments;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod key_sealing;
pub mod keys;
pub mod passwords;
pub mod people;
pub mod policy;
pub mod roles;
pub mod settings;
pub mod state;
pub mod store;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use inspraak_host::{Context, Preparation, ServiceApp};
use inspraak_kit::Env;
use inspraak_kit::auth::KeySource;
use inspraak_kit::grpc::GrpcServer;
use inspraak_proto::identity::v1::identity_server::IdentityServer;
use inspraak_proto::identity::v1::signing_keys_server::SigningKeysServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use settings::IdentitySettings;
pub use store::Migrator;

/// The identity service, as the host runs it.
pub struct IdentityService {
    settings: Arc<IdentitySettings>,
    /// Built once: the API and the workers share one hashing pool, so its
    /// concurrency bound holds for the whole service.
    state: std::sync::OnceLock<state::State>,
}

impl IdentityService {
    pub fn new(settings: IdentitySettings) -> Self {
        Self {
            settings: Arc::new(settings),
            state: std::sync::OnceLock::new(),
        }
    }

    /// The state every operation works with, over `context`.
    pub fn state(&self, context: &Context) -> Result<state::State, error::Error> {
        if let Some(state) = self.state.get() {
            return Ok(state.clone());
        }
        let state = self.build_state(context)?;
        Ok(self.state.get_or_init(|| state).clone())
    }

    fn build_state(&self, context: &Context) -> Result<state::State, error::Error> {
        Ok(state::State {
            db: context.db.clone(),
            outbox: context.bus.outbox(),
            clock: context.clock.clone(),
            settings: self.settings.clone(),
            auth: context.auth.clone(),
            passwords: passwords::Passwords::new(self.settings.hashing_concurrency)?,
            keys: keys::SigningKeys::new(
                context.db.clone(),
                context.clock.clone(),
                self.settings.signing_key_sealing.clone(),
            ),
            throttle: throttle::Throttle::new(
                context.db.clone(),
                context.clock.clone(),
                self.settings.login_failures_per_account,
                self.settings.login_failures_per_client,
            ),
        })
    }
}

impl ServiceApp for IdentityService {
    const NAME: &'static str = "identity";
    const DEFAULT_PORT: u16 = 50051;
    type Migrator = store::Migrator;

    fn configure(env: &mut Env) -> Self {
        Self::new(IdentitySettings::from_env(env))
    }

    fn key_source(&self, context: &Context) -> Option<KeySource> {
        let keys = keys::SigningKeys::new(
            context.db.clone(),
            context.clock.clone(),
            self.settings.signing_key_sealing.clone(),
        );
        Some(KeySource::Provider(Arc::new(keys)))
    }

    fn prepare(&self, context: &Context) -> Preparation {
        let state = self.state(context);
        Box::pin(async move {
            let state = state.map_err(|error| error.to_string())?;
            reseal_signing_keys(state).await
        })
    }

    fn routes(&self, context: &Context, server: GrpcServer) -> GrpcServer {
        let state = match self.state(context) {
            Ok(state) => state,
            Err(error) => {
                // Only the argon2 parameters can fail here, and they are constants.
                tracing::error!(%error, "identity cannot start");
                return server;
            }
        };
        let api = inspraak_kit::limited!(
            IdentityServer::new(grpc::IdentityApi {
                state: state.clone()
            }),
            server.settings()
        );
        let keys = inspraak_kit::limited!(
            SigningKeysServer::new(grpc::SigningKeysApiImpl { state }),
            server.settings()
        );
        server.with_service(api).with_service(keys)
    }

    fn spawn_workers(
        &self,
        context: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let Ok(state) = self.state(context) else {
            return Vec::new();
        };
        let mut workers = Vec::new();
        if let Some(email) = self.settings.bootstrap_admin.clone() {
            let state = state.clone();
            workers.push(tokio::spawn(async move {
                match bootstrap::first_admin(&state, &email).await {
                    Ok(bootstrap::Bootstrapped::Created { user_id, setup_code }) => {
                        // Printed once, for the operator who set the variable;
                        // it is also published for notifications to e-mail.
                        eprintln!(
                            "inspraak identity: first admin {email} ({user_id}) created; one-time password setup code: {setup_code}"
                        );
                    }
                    Ok(bootstrap::Bootstrapped::AlreadyHasAdmin) => {
                        tracing::info!("BOOTSTRAP_ADMIN_EMAIL ignored: the platform has an admin");
                    }
                    Err(error) => tracing::error!(%error, "bootstrapping the first admin failed"),
                }
            }));
        }
        let shutdown = shutdown.clone();
        workers.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(600)) => {}
                    () = shutdown.cancelled() => return,
                }
                match state.throttle.prune().await {
                    Ok(pruned) => tracing::debug!(pruned, "pruned old login failures"),
                    Err(error) => tracing::warn!(%error, "pruning login failures failed"),
                }
            }
        }));
        workers
    }
}

/// Opens every stored signing key and seals it under the current
/// key-encryption key where it is not yet.
async fn reseal_signing_keys(state: state::State) -> Result<(), String> {
    if !state.settings.signing_key_sealing.is_sealed() {
        tracing::warn!(
            "token signing keys are stored unencrypted: set SIGNING_KEY_ENCRYPTION_KEY in production"
        );
    }
    let resealed = state
        .keys
        .reseal_stored()
        .await
        .map_err(|error| format!("the stored signing keys: {error}"))?;
    if resealed > 0 {
        tracing::info!(
            resealed,
            "sealed stored signing keys under the current key-encryption key"
        );
    }
    Ok(())
}
