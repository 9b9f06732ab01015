//! The public keys that verify access tokens, cached and refreshed from
//! identity's JWKS RPC when a token names a key id we have not seen.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use inspraak_proto::identity::v1::{GetJwksRequest, Jwk, signing_keys_client::SigningKeysClient};
use jsonwebtoken::DecodingKey;
use tonic::transport::Channel;

use super::AuthError;

/// Something that knows the current keys without a network call (identity
/// itself, reading its own key table).
pub trait JwksProvider: Send + Sync {
    fn jwks(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Jwk>, String>> + Send + '_>>;
}

/// Where the keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// Identity's `SigningKeys.GetJwks`, the production path.
    Identity(SigningKeysClient<crate::grpc::ClientTelemetry<Channel>>),
    /// Identity verifying its own tokens.
    Provider(Arc<dyn JwksProvider>),
    /// A fixed set, for tests.
    Fixed(Vec<Jwk>),
}

impl KeySource {
    /// A lazily connecting client for identity at `endpoint`
    /// (e.g. `http://identity:50051`).
    pub fn identity(endpoint: &str) -> Result<Self, http::uri::InvalidUri> {
        let channel = Channel::from_shared(endpoint.to_owned())?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(Self::Identity(SigningKeysClient::new(crate::grpc::traced(
            channel,
        ))))
    }

    async fn fetch(&self) -> Result<Vec<Jwk>, AuthError> {
        match self {
            Self::Fixed(keys) => Ok(keys.clone()),
            Self::Provider(provider) => provider.jwks().await.map_err(AuthError::KeysUnavailable),
            Self::Identity(client) => {
                let mut client = client.clone();
                let response = client
                    .get_jwks(GetJwksRequest {})
                    .await
                    .map_err(|status| AuthError::KeysUnavailable(status.message().to_owned()))?;
                Ok(response.into_inner().keys)
            }
        }
    }
}

#[derive(Clone)]
pub(super) struct VerificationKey {
    pub key: DecodingKey,
    /// After this instant the key verifies nothing any more.
    pub verify_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, VerificationKey>,
    fetched_at: Option<Instant>,
}

/// A shared, cheaply cloned cache of verification keys by `kid`.
#[derive(Clone)]
pub struct PublicKeys {
    inner: Arc<Inner>,
}

struct Inner {
    source: KeySource,
    keys: RwLock<KeySet>,
    /// When the keys were last fetched; held across the fetch so that a burst
    /// of tokens with a new `kid` causes one fetch, not one per request.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// Unknown key ids cannot force fetches more often than this, so forged
    /// tokens cannot turn verification into a flood of JWKS calls.
    min_refresh_interval: Duration,
}

/// Keys older than this are fetched again on next use, so a key identity
/// withdrew (a compromised one) stops verifying within this time, not at the
/// next restart.
const MAX_KEY_AGE: Duration = Duration::from_secs(300);

impl PublicKeys {
    pub fn new(source: KeySource, min_refresh_interval: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                keys: RwLock::new(KeySet::default()),
                last_refresh: tokio::sync::Mutex::new(None),
                min_refresh_interval,
            }),
        }
    }

    pub(super) async fn get(&self, kid: &str) -> Result<VerificationKey, AuthError> {
        if self.is_stale().await
            && let Err(error) = self.refresh_unless_recent().await
        {
            // Identity is away: the keys we have are better than none.
            tracing::warn!(%error, "could not refresh the signing keys; using the cached ones");
        }
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        self.refresh_for_unknown(kid).await?;
        self.cached(kid)
            .ok_or_else(|| AuthError::UnknownKey(kid.to_owned()))
    }

    /// Fetches the keys because a token names one we do not know (just after
    /// a rotation, typically). At most one fetch per interval: a caller that
    /// comes too soon waits for the interval to pass rather than being turned
    /// away, and callers that queued behind a fetch share it.
    async fn refresh_for_unknown(&self, kid: &str) -> Result<(), AuthError> {
        let asked = Instant::now();
        let mut last = self.inner.last_refresh.lock().await;
        if self.cached(kid).is_some() || last.is_some_and(|at| at >= asked) {
            return Ok(());
        }
        if let Some(at) = *last {
            let wait = self.inner.min_refresh_interval.saturating_sub(at.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        self.fetch(&mut last).await
    }

    async fn is_stale(&self) -> bool {
        self.inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fetched_at
            .is_some_and(|at| at.elapsed() > MAX_KEY_AGE)
    }

    fn cached(&self, kid: &str) -> Option<VerificationKey> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_kid
            .get(kid)
            .cloned()
    }

    /// Fetches the keys now, unless another caller did so within the minimum
    /// refresh interval.
    pub async fn refresh_unless_recent(&self) -> Result<(), AuthError> {
        let mut last = self.inner.last_refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.inner.min_refresh_interval) {
            return Ok(());
        }
        self.fetch(&mut last).await
    }

    async fn fetch(&self, last: &mut Option<Instant>) -> Result<(), AuthError> {
        let jwks = self.inner.source.fetch().await?;
        let mut fresh = HashMap::with_capacity(jwks.len());
        for jwk in jwks {
            match decode_jwk(&jwk) {
                Ok(key) => {
                    fresh.insert(jwk.kid.clone(), key);
                }
                Err(problem) => {
                    tracing::warn!(kid = %jwk.kid, %problem, "ignoring unusable signing key")
                }
            }
        }
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = KeySet {
            by_kid: fresh,
            fetched_at: Some(Instant::now()),
        };
        *last = Some(Instant::now());
        Ok(())
    }
}

fn decode_jwk(jwk: &Jwk) -> Result<VerificationKey, String> {
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" || jwk.alg != "EdDSA" {
        return Err(format!(
            "expected an OKP Ed25519 EdDSA key, got kty={} crv={} alg={}",
            jwk.kty, jwk.crv, jwk.alg
        ));
    }
    let key = DecodingKey::from_ed_components(&jwk.x).map_err(|e| e.to_string())?;
    let verify_until = jwk
        .verify_until
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)));
    Ok(VerificationKey { key, verify_until })
}
