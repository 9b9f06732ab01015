//! Verification of access tokens.

use std::collections::BTreeSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};

use super::keys::PublicKeys;
use super::verified::Verified;
use super::{AccessClaims, AuthError, PlatformRole, Principal, TOKEN_TYPE};
use crate::clock::Clock;

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    pub issuer: String,
    pub audience: String,
    /// Tolerated clock skew between identity and this service.
    pub leeway: Duration,
    /// Tokens promising a longer life than this are refused: identity never
    /// signs them, so one that does is forged or from a misconfigured issuer.
    pub max_lifetime: Duration,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        Self {
            issuer: "inspraak-identity".to_owned(),
            audience: "inspraak".to_owned(),
            leeway: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Clone)]
pub struct TokenVerifier {
    settings: VerifierSettings,
    keys: PublicKeys,
    clock: Clock,
    verified: std::sync::Arc<Verified>,
}

impl TokenVerifier {
    pub fn new(settings: VerifierSettings, keys: PublicKeys, clock: Clock) -> Self {
        Self {
            settings,
            keys,
            clock,
            verified: std::sync::Arc::default(),
        }
    }

    /// The principal `token` proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = self.clock.now().timestamp();
        if let Some(principal) = self.verified.get(token, now) {
            return Ok(principal);
        }
        let (principal, valid_until) = self.verify_afresh(token).await?;
        self.verified.keep(token, &principal, valid_until, now);
        Ok(principal)
    }

    /// Checks `token` in full; with the principal, the instant (seconds)
    /// from which time would refuse it.
    async fn verify_afresh(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| {
            // `alg: none` and unknown algorithms fail here: the algorithm enum
            // has no such member.
            if matches!(error.kind(), jsonwebtoken::errors::ErrorKind::Json(_)) {
                AuthError::WrongAlgorithm
            } else {
                AuthError::Malformed
            }
        })?;
        // Pinned before any key is touched: an HS256 token "signed" with our
        // public key never reaches a verifier that would accept it.
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::WrongAlgorithm);
        }
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(AuthError::WrongType);
        }
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        let key = self.keys.get(&kid).await?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        // Time is checked below against the service's clock, which tests control.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation).map_err(
            |error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                    ErrorKind::InvalidAudience => AuthError::WrongAudience,
                    ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
                    ErrorKind::MissingRequiredClaim(claim) => {
                        AuthError::InvalidClaims(format!("missing {claim}"))
                    }
                    ErrorKind::Json(e) => AuthError::InvalidClaims(e.to_string()),
                    _ => AuthError::Malformed,
                }
            },
        )?;
        let claims = data.claims;

        let now = self.clock.now().timestamp();
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        let max_lifetime = i64::try_from(self.settings.max_lifetime.as_secs()).unwrap_or(i64::MAX);
        if claims.exp <= now - leeway {
            return Err(AuthError::Expired);
        }
        if claims.nbf > now + leeway {
            return Err(AuthError::NotYetValid);
        }
        if claims.exp - claims.nbf > max_lifetime {
            return Err(AuthError::LifetimeTooLong);
        }
        if key
            .verify_until
            .is_some_and(|until| until.timestamp() < now)
        {
            // A retired key whose tokens have all expired.
            return Err(AuthError::UnknownKey(kid));
        }

        // Refused from: its expiry plus the leeway, or the second after its
        // key stops verifying, whichever comes first.
        let mut valid_until = claims.exp.saturating_add(leeway);
        if let Some(until) = key.verify_until {
            valid_until = valid_until.min(until.timestamp().saturating_add(1));
        }
        let roles: BTreeSet<PlatformRole> = claims
            .roles
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect();
        let principal = Principal {
            kind: claims.kind,
            subject: claims.sub,
            roles,
            departments: claims.departments.into_iter().collect(),
            token_id: claims.jti,
            email_verified: claims.email_verified,
        };
        Ok((principal, valid_until))
    }
}
