//! Token signing keys: one signs at a time; after a rotation the previous one
//! keeps verifying until every token it signed has expired.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use inspraak_kit::Clock;
use inspraak_kit::auth::{AccessClaims, JwksProvider, sign_access_token};
use inspraak_proto::identity::v1::Jwk;
use rand::RngCore;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

use crate::error::{Error, Result};
use crate::key_sealing::{Sealing, Stored};
use crate::store::entities::signing_keys;

/// How long a replica trusts its cached idea of which key signs; another
/// replica's rotation reaches it within this time.
const ACTIVE_KEY_CACHE: Duration = Duration::from_secs(30);
/// Added to the access-token lifetime when retiring a key: covers replicas
/// that signed with it just after the rotation, and clock skew.
const RETIREMENT_MARGIN: chrono::Duration = chrono::Duration::minutes(2);

#[derive(Clone)]
struct ActiveKey {
    kid: String,
    pkcs8: Arc<Vec<u8>>,
    loaded: Instant,
}

#[derive(Clone)]
pub struct SigningKeys {
    db: DatabaseConnection,
    clock: Clock,
    sealing: Arc<Sealing>,
    active: Arc<RwLock<Option<ActiveKey>>>,
}

impl SigningKeys {
    pub fn new(db: DatabaseConnection, clock: Clock, sealing: Sealing) -> Self {
        Self {
            db,
            clock,
            sealing: Arc::new(sealing),
            active: Arc::new(RwLock::new(None)),
        }
    }

    /// Signs `claims` with the key in force.
    pub async fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let key = self.active_key().await?;
        sign_access_token(claims, &key.kid, &key.pkcs8)
            .map_err(|e| Error::Internal(format!("signing a token: {e}")))
    }

    async fn active_key(&self) -> Result<ActiveKey> {
        if let Some(key) = self.cached()
            && key.loaded.elapsed() < ACTIVE_KEY_CACHE
        {
            return Ok(key);
        }
        let newest = signing_keys::Entity::find()
            .filter(signing_keys::Column::RetiredAt.is_null())
            .order_by_desc(signing_keys::Column::CreatedAt)
            .one(&self.db)
            .await?;
        let row = match newest {
            Some(row) => row,
            // First start: make the first key. Two replicas doing this at
            // once each make one; both are published, the newest signs.
            None => self.insert_new_key().await?,
        };
        let pkcs8 = self.sealing.open(&row.kid, &stored(&row))?;
        let key = ActiveKey {
            kid: row.kid,
            pkcs8: Arc::new(pkcs8),
            loaded: Instant::now(),
        };
        *self
            .active
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key.clone());
        Ok(key)
    }

    fn cached(&self) -> Option<ActiveKey> {
        self.active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn insert_new_key(&self) -> Result<signing_keys::Model> {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        let signing = SigningKey::from_bytes(&seed);
        let pkcs8 = signing
            .to_pkcs8_der()
            .map_err(|e| Error::Internal(format!("encoding a new key: {e}")))?
            .as_bytes()
            .to_vec();
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let sealed = self.sealing.seal(&kid, &pkcs8)?;
        let row = signing_keys::Model {
            kid,
            private_key: sealed.bytes,
            sealed_by: sealed.sealed_by,
            public_x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            created_at: self.clock.now(),
            retired_at: None,
            verify_until: None,
        };
        signing_keys::Entity::insert(signing_keys::ActiveModel {
            kid: Set(row.kid.clone()),
            private_key: Set(row.private_key.clone()),
            sealed_by: Set(row.sealed_by.clone()),
            public_x: Set(row.public_x.clone()),
            created_at: Set(row.created_at),
            retired_at: Set(None),
            verify_until: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        tracing::info!(kid = %row.kid, "created a token signing key");
        Ok(row)
    }

    /// Seals every stored key under the current key-encryption key: keys
    /// stored before one was set, and keys sealed under the previous one.
    /// Run at start; returns how many were sealed again. A key that opens
    /// under none of the configured keys is an error naming it.
    pub async fn reseal_stored(&self) -> Result<usize> {
        let rows = signing_keys::Entity::find().all(&self.db).await?;
        let mut resealed = 0;
        for row in rows {
            // Opened even when it needs no resealing: a key that cannot be
            // opened is reported at start, not at the first sign-in.
            let pkcs8 = self.sealing.open(&row.kid, &stored(&row))?;
            if !self.sealing.needs_resealing(row.sealed_by.as_deref()) {
                continue;
            }
            let sealed = self.sealing.seal(&row.kid, &pkcs8)?;
            // Only if no other replica resealed it meanwhile (both would be
            // right; this keeps the count honest).
            let unchanged = match &row.sealed_by {
                Some(by) => signing_keys::Column::SealedBy.eq(by.clone()),
                None => signing_keys::Column::SealedBy.is_null(),
            };
            let updated = signing_keys::Entity::update_many()
                .col_expr(
                    signing_keys::Column::PrivateKey,
                    sea_orm::sea_query::Expr::value(sealed.bytes),
                )
                .col_expr(
                    signing_keys::Column::SealedBy,
                    sea_orm::sea_query::Expr::value(sealed.sealed_by),
                )
                .filter(signing_keys::Column::Kid.eq(row.kid.clone()))
                .filter(unchanged)
                .exec(&self.db)
                .await?;
            resealed += usize::try_from(updated.rows_affected).unwrap_or(0);
        }
        Ok(resealed)
    }

    /// Starts signing with a new key. Keys signing until now verify until
    /// `now + access_token_ttl + margin`; returns the new key id and that
    /// instant.
    pub async fn rotate(&self, access_token_ttl: Duration) -> Result<(String, DateTime<Utc>)> {
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(access_token_ttl)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let verify_until = now + ttl + RETIREMENT_MARGIN;
        let new = self.insert_new_key().await?;
        signing_keys::Entity::update_many()
            .col_expr(
                signing_keys::Column::RetiredAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .col_expr(
                signing_keys::Column::VerifyUntil,
                sea_orm::sea_query::Expr::value(verify_until),
            )
            .filter(signing_keys::Column::RetiredAt.is_null())
            .filter(signing_keys::Column::Kid.ne(new.kid.clone()))
            .exec(&self.db)
            .await?;
        *self
            .active
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        tracing::info!(kid = %new.kid, previous_verify_until = %verify_until, "rotated the token signing key");
        Ok((new.kid, verify_until))
    }

    /// The public keys that verify tokens now: the signing key and retired
    /// keys whose tokens may still be alive.
    pub async fn jwks(&self) -> Result<Vec<Jwk>> {
        // Make sure a key exists before anyone asks for its public half.
        self.active_key().await?;
        let now = self.clock.now();
        let rows = signing_keys::Entity::find()
            .order_by_desc(signing_keys::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| {
                row.retired_at.is_none() || row.verify_until.is_some_and(|until| until > now)
            })
            .map(|row| Jwk {
                kid: row.kid,
                kty: "OKP".to_owned(),
                crv: "Ed25519".to_owned(),
                alg: "EdDSA".to_owned(),
                x: row.public_x,
                verify_until: row.verify_until.map(|t| prost_types::Timestamp {
                    seconds: t.timestamp(),
                    nanos: 0,
                }),
            })
            .collect())
    }
}

/// A row's private key as stored.
fn stored(row: &signing_keys::Model) -> Stored {
    Stored {
        bytes: row.private_key.clone(),
        sealed_by: row.sealed_by.clone(),
    }
}

impl JwksProvider for SigningKeys {
    fn jwks(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Jwk>, String>> + Send + '_>>
    {
        Box::pin(async move { SigningKeys::jwks(self).await.map_err(|e| e.to_string()) })
    }
}
