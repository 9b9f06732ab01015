//! Identity's own settings (besides those every service has).

use std::time::Duration;

use inspraak_kit::Env;
use secrecy::SecretString;

use crate::domain::Email;
use crate::key_sealing::{KeyEncryptionKey, Sealing};

#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// `ACCESS_TOKEN_TTL`, at most 15 minutes.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL`
    pub refresh_token_ttl: Duration,
    /// `SERVICE_TOKEN_TTL`
    pub service_token_ttl: Duration,
    /// `CORE_TEAM_MAX`: platform admins at most.
    pub core_team_max: u32,
    /// `LOGIN_FAILURES_PER_ACCOUNT`: failed logins per account per hour.
    pub login_failures_per_account: u32,
    /// `LOGIN_FAILURES_PER_CLIENT`: failed logins per client address per hour.
    pub login_failures_per_client: u32,
    /// `PASSWORD_HASHING_CONCURRENCY`: hashes computed at once; more wait.
    pub hashing_concurrency: usize,
    /// `SERVICE_CLIENTS`: `name=secret,name=secret` for service tokens.
    pub service_clients: Vec<(String, SecretString)>,
    /// `BOOTSTRAP_ADMIN_EMAIL`: the first admin, created at first start on an
    /// empty database.
    pub bootstrap_admin: Option<Email>,
    /// `SIGNING_KEY_ENCRYPTION_KEY` and `SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS`:
    /// how the token signing keys are stored.
    pub signing_key_sealing: Sealing,
}

impl IdentitySettings {
    pub fn from_env(env: &mut Env) -> Self {
        let access_token_ttl = env.duration_or("ACCESS_TOKEN_TTL", Duration::from_secs(15 * 60));
        if access_token_ttl > Duration::from_secs(15 * 60)
            || access_token_ttl < Duration::from_secs(30)
        {
            env.reject("ACCESS_TOKEN_TTL", "must be between 30s and 15m");
        }
        let service_clients = match env.secret("SERVICE_CLIENTS") {
            None => Vec::new(),
            Some(list) => {
                use secrecy::ExposeSecret;
                let mut clients = Vec::new();
                for entry in list
                    .expose_secret()
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                {
                    match entry.split_once('=') {
                        Some((name, secret)) if !name.trim().is_empty() && secret.trim().len() >= 32 => {
                            clients.push((name.trim().to_owned(), SecretString::from(secret.trim().to_owned())));
                        }
                        _ => env.reject(
                            "SERVICE_CLIENTS",
                            "expected name=secret pairs separated by commas, each secret at least 32 characters",
                        ),
                    }
                }
                clients
            }
        };
        let bootstrap_admin = env
            .optional::<String>("BOOTSTRAP_ADMIN_EMAIL", "an e-mail address")
            .and_then(|raw| match Email::parse("BOOTSTRAP_ADMIN_EMAIL", &raw) {
                Ok(email) => Some(email),
                Err(_) => {
                    env.reject("BOOTSTRAP_ADMIN_EMAIL", "is not an e-mail address");
                    None
                }
            });
        let signing_key_sealing = signing_key_sealing(env);
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            access_token_ttl,
            refresh_token_ttl: env
                .duration_or("REFRESH_TOKEN_TTL", Duration::from_secs(30 * 24 * 3600)),
            service_token_ttl: env.duration_or("SERVICE_TOKEN_TTL", Duration::from_secs(5 * 60)),
            core_team_max: env.bounded_or("CORE_TEAM_MAX", 8, 2, 50),
            login_failures_per_account: env.bounded_or(
                "LOGIN_FAILURES_PER_ACCOUNT",
                100,
                3,
                100_000,
            ),
            login_failures_per_client: env.bounded_or(
                "LOGIN_FAILURES_PER_CLIENT",
                1000,
                3,
                1_000_000,
            ),
            hashing_concurrency: env.bounded_or("PASSWORD_HASHING_CONCURRENCY", cores, 1, 256),
            service_clients,
            bootstrap_admin,
            signing_key_sealing,
        }
    }

    /// Defaults, for tests.
    pub fn defaults() -> Self {
        Self::from_env(&mut Env::from_pairs(std::iter::empty::<(String, String)>()))
    }
}

/// The key-encryption keys, when set; each bad one is reported.
fn signing_key_sealing(env: &mut Env) -> Sealing {
    let mut read = |name: &str| {
        let secret = env.secret(name)?;
        KeyEncryptionKey::parse(&secret)
            .map_err(|problem| env.reject(name, problem))
            .ok()
    };
    let current = read("SIGNING_KEY_ENCRYPTION_KEY");
    let previous = read("SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS");
    match (current, previous) {
        (Some(current), previous) => {
            if previous
                .as_ref()
                .is_some_and(|p| p.fingerprint() == current.fingerprint())
            {
                env.reject(
                    "SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS",
                    "is the same key as SIGNING_KEY_ENCRYPTION_KEY",
                );
            }
            Sealing::Sealed { current, previous }
        }
        (None, Some(_)) => {
            env.reject(
                "SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS",
                "needs SIGNING_KEY_ENCRYPTION_KEY, the key that replaces it",
            );
            Sealing::Plain
        }
        (None, None) => Sealing::Plain,
    }
}
