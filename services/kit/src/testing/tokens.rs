//! Signing keys and tokens for tests, and a JWKS server standing in for
//! identity.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use inspraak_proto::identity::v1::signing_keys_server::{SigningKeys, SigningKeysServer};
use inspraak_proto::identity::v1::{GetJwksRequest, GetJwksResponse, Jwk};
use rand::RngCore;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::auth::{AccessClaims, PrincipalKind, sign_access_token};

/// An Ed25519 key pair with its key id.
pub struct TestKeys {
    pub kid: String,
    signing: SigningKey,
}

impl TestKeys {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        Self {
            kid: super::unique("test-key-"),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The private key as PKCS#8 DER, as the signer takes it.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.signing
            .to_pkcs8_der()
            .map(|doc| doc.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// The public key as identity serves it.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kid: self.kid.clone(),
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            alg: "EdDSA".to_owned(),
            x: URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes()),
            verify_until: None,
        }
    }

    /// Claims of a valid 10-minute token for `subject`, issued at `now`.
    pub fn claims(
        &self,
        kind: PrincipalKind,
        subject: &str,
        roles: &[&str],
        now: DateTime<Utc>,
    ) -> AccessClaims {
        AccessClaims {
            iss: "inspraak-identity".to_owned(),
            aud: "inspraak".to_owned(),
            sub: subject.to_owned(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + Duration::minutes(10)).timestamp(),
            jti: super::unique("jti-"),
            kind,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            departments: Vec::new(),
            email_verified: true,
        }
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        sign_access_token(claims, &self.kid, &self.pkcs8_der()).unwrap_or_default()
    }

    /// A valid token for a person with `roles`.
    pub fn token(&self, subject: &str, roles: &[&str]) -> String {
        self.sign(&self.claims(PrincipalKind::Person, subject, roles, Utc::now()))
    }
}

/// Serves `keys` through the real `SigningKeys` RPC on a free port, for as
/// long as the test runs.
pub async fn serve_jwks(keys: Vec<Jwk>) -> SocketAddr {
    let jwks = RotatingJwks::default();
    jwks.set(keys);
    jwks.serve().await
}

/// A JWKS whose keys a test can change while it is served (key rotation).
#[derive(Clone, Default)]
pub struct RotatingJwks {
    keys: Arc<RwLock<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

impl RotatingJwks {
    pub fn set(&self, keys: Vec<Jwk>) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// How many times the keys were fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Serves the keys through the real `SigningKeys` RPC on a free port.
    pub async fn serve(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(SigningKeysServer::new(self.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        addr
    }
}

#[tonic::async_trait]
impl SigningKeys for RotatingJwks {
    async fn get_jwks(
        &self,
        _: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let keys = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(Response::new(GetJwksResponse { keys }))
    }
}
