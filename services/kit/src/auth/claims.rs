//! The claims of an access token, shared by the side that signs (identity)
//! and the sides that verify (every service).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The JOSE `typ` of access tokens (RFC 9068), so that no other JWT the
/// platform might sign one day can be passed off as an access token.
pub const TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person who signed in.
    Person,
    /// Another Inspraak service or a city system.
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The person's id (a UUID) or the service's name.
    pub sub: String,
    /// Seconds since the epoch.
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Token id, for audit logs.
    pub jti: String,
    pub kind: PrincipalKind,
    /// Platform roles, by name (`platform_admin`, `communication_officer`,
    /// `decision_maker`); unknown names are ignored by verifiers.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Department ids the person belongs to.
    #[serde(default)]
    pub departments: Vec<String>,
    /// Whether the person confirmed their e-mail address: phases may allow
    /// some actions to confirmed accounts only.
    #[serde(default)]
    pub email_verified: bool,
}

/// Signs `claims` with an Ed25519 key given as PKCS#8 DER.
pub fn sign_access_token(
    claims: &AccessClaims,
    kid: &str,
    pkcs8_der: &[u8],
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(pkcs8_der))
}
