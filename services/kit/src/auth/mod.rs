//! Access tokens: who is calling.
//!
//! Identity signs short-lived EdDSA JWTs; every service verifies them locally
//! against the public keys identity serves through its JWKS RPC. The
//! [`AuthLayer`] turns a valid `authorization: Bearer …` header into a
//! [`Principal`] in the request's extensions; handlers then decide, against the
//! resource at hand, whether that principal may act (authorisation lives with
//! the data, not here).

mod claims;
mod keys;
mod layer;
mod principal;
mod verified;
mod verify;

pub use claims::{AccessClaims, PrincipalKind, TOKEN_TYPE, sign_access_token};
pub use keys::{JwksProvider, KeySource, PublicKeys};
pub use layer::{AuthLayer, AuthService};
pub use principal::{PlatformRole, Principal, principal, require_principal};
pub use verify::{TokenVerifier, VerifierSettings};

/// Why a token was refused. Callers only ever see UNAUTHENTICATED with a
/// generic message; the precise reason goes to the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not EdDSA")]
    WrongAlgorithm,
    #[error("the token's type is not {TOKEN_TYPE}")]
    WrongType,
    #[error("the token names no signing key")]
    MissingKeyId,
    #[error("the token was signed with an unknown key {0:?}")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token was not issued by this platform")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token lives longer than tokens may")]
    LifetimeTooLong,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        match error {
            // Not the caller's fault: the token may be fine, we could not check it.
            AuthError::KeysUnavailable(_) => {
                tonic::Status::unavailable("the token could not be verified now; retry")
            }
            _ => tonic::Status::unauthenticated("invalid access token"),
        }
    }
}
