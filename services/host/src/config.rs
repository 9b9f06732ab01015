//! A service's configuration, from the environment.

use inspraak_bus::BusSettings;
use inspraak_kit::auth::VerifierSettings;
use inspraak_kit::config::{ConfigErrors, Env};
use inspraak_kit::db::DatabaseSettings;
use inspraak_kit::grpc::ServerSettings;

/// How incoming access tokens are verified.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `IDENTITY_URL`: where identity serves its signing keys, e.g.
    /// `http://identity:50051`. Without it, every token is refused.
    pub identity_url: Option<String>,
    /// `AUTH_ISSUER`, `AUTH_AUDIENCE`
    pub verifier: VerifierSettings,
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub grpc: ServerSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub auth: AuthSettings,
}

/// Defaults that differ between the embedded platform and a deployment.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// `DATABASE_URL` when unset (the embedded platform's SQLite file);
    /// `None` makes it required.
    pub database_url: Option<String>,
    /// `BUS_URL` when unset.
    pub bus_url: Option<String>,
    /// `IDENTITY_URL` when unset.
    pub identity_url: Option<String>,
}

impl ServiceConfig {
    /// Reads `<SERVICE>_<NAME>` first, then `<NAME>`, so one environment can
    /// hold several services' settings.
    pub fn from_env(
        env: &Env,
        service: &str,
        default_port: u16,
        defaults: Defaults,
    ) -> Result<Self, ConfigErrors> {
        let mut env = env.scoped(&format!("{}_", service.to_uppercase()));
        let grpc = ServerSettings::from_env(&mut env, default_port);
        let database = DatabaseSettings::from_env(&mut env, defaults.database_url);
        let bus = BusSettings::from_env(&mut env, defaults.bus_url.as_deref());
        let identity_url = env
            .optional::<String>("IDENTITY_URL", "an http:// URL of the identity service")
            .or(defaults.identity_url);
        if let Some(url) = &identity_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            env.reject("IDENTITY_URL", "must start with http:// or https://");
        }
        let base = VerifierSettings::default();
        let verifier = VerifierSettings {
            issuer: env.or("AUTH_ISSUER", base.issuer, "the issuer of access tokens"),
            audience: env.or(
                "AUTH_AUDIENCE",
                base.audience,
                "the audience of access tokens",
            ),
            ..base
        };
        env.finish()?;
        Ok(Self {
            grpc,
            database,
            bus,
            auth: AuthSettings {
                identity_url,
                verifier,
            },
        })
    }
}
