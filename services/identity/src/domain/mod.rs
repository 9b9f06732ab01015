//! Identity's domain types: parsed once at the edge, valid by construction.

pub mod fields;
pub mod policy;
pub mod secrets;

use std::fmt;

use inspraak_kit::auth::PlatformRole;

use crate::error::Error;

/// A normalised e-mail address (trimmed, lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Error> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.matches('@').count() == 1;
        if valid {
            Ok(Self(email))
        } else {
            Err(Error::invalid(field, "is not an e-mail address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a person is called on the platform: 1 to 100 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        let length = name.chars().count();
        if length == 0 {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if length > 100 {
            return Err(Error::invalid(field, "must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A language tag such as `nl`, `fr` or `nl-BE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        let (language, region) = match raw.split_once(['-', '_']) {
            Some((language, region)) => (language, Some(region)),
            None => (raw, None),
        };
        let language_ok =
            (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphabetic());
        let region_ok =
            region.is_none_or(|r| r.len() == 2 && r.chars().all(|c| c.is_ascii_alphabetic()));
        if !(language_ok && region_ok) {
            return Err(Error::invalid(
                field,
                "is not a language tag such as nl or nl-BE",
            ));
        }
        Ok(Self(match region {
            Some(region) => format!("{}-{}", language.to_lowercase(), region.to_uppercase()),
            None => language.to_lowercase(),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed, checked against the policy's minimum length.
pub struct Password(secrecy::SecretString);

impl Password {
    /// Passwords longer than this are refused: hashing them would cost more
    /// than any real password needs.
    const MAX_LENGTH: usize = 1024;

    pub fn parse(field: &str, raw: &str, min_length: usize) -> Result<Self, Error> {
        let length = raw.chars().count();
        if length < min_length {
            return Err(Error::invalid(
                field,
                format!("must be at least {min_length} characters"),
            ));
        }
        if raw.len() > Self::MAX_LENGTH {
            return Err(Error::invalid(
                field,
                format!("must be at most {} bytes", Self::MAX_LENGTH),
            ));
        }
        Ok(Self(secrecy::SecretString::from(raw.to_owned())))
    }

    /// A password as presented at login: never validated against the policy
    /// (the policy may have changed since it was set), only bounded.
    pub fn presented(raw: &str) -> Self {
        let bounded: String = raw.chars().take(Self::MAX_LENGTH).collect();
        Self(secrecy::SecretString::from(bounded))
    }

    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

/// An account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Blocked,
    Deleted,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blocked => "blocked",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(stored: &str) -> Self {
        match stored {
            "blocked" => Self::Blocked,
            "deleted" => Self::Deleted,
            _ => Self::Active,
        }
    }
}

/// The role named in a request.
pub fn role_from_proto(field: &str, value: i32) -> Result<PlatformRole, Error> {
    use inspraak_proto::identity::v1::PlatformRole as Proto;
    match Proto::try_from(value) {
        Ok(Proto::PlatformAdmin) => Ok(PlatformRole::PlatformAdmin),
        Ok(Proto::CommunicationOfficer) => Ok(PlatformRole::CommunicationOfficer),
        Ok(Proto::DecisionMaker) => Ok(PlatformRole::DecisionMaker),
        Ok(Proto::Unspecified) | Err(_) => Err(Error::invalid(field, "must name a platform role")),
    }
}

pub fn role_to_proto(role: PlatformRole) -> i32 {
    use inspraak_proto::identity::v1::PlatformRole as Proto;
    match role {
        PlatformRole::PlatformAdmin => Proto::PlatformAdmin as i32,
        PlatformRole::CommunicationOfficer => Proto::CommunicationOfficer as i32,
        PlatformRole::DecisionMaker => Proto::DecisionMaker as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("email", "  An.Resident@Gent.BE ")
                .unwrap()
                .as_str(),
            "an.resident@gent.be"
        );
        for bad in [
            "",
            "no-at",
            "a@b",
            "@gent.be",
            "a@.gent.be",
            "a b@gent.be",
            "a@gent..be",
            "a@@gent.be",
            "a@gent.be.",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_names_are_bounded() {
        assert_eq!(
            DisplayName::parse("n", "  Fatima ").unwrap().as_str(),
            "Fatima"
        );
        assert!(DisplayName::parse("n", "   ").is_err());
        assert!(DisplayName::parse("n", &"x".repeat(101)).is_err());
        assert!(DisplayName::parse("n", "a\u{0}b").is_err());
    }

    #[test]
    fn locales_are_language_tags() {
        assert_eq!(Locale::parse("l", "NL_be").unwrap().as_str(), "nl-BE");
        assert_eq!(Locale::parse("l", "fr").unwrap().as_str(), "fr");
        for bad in ["", "x", "dutch", "nl-", "nl-BEL", "n1"] {
            assert!(Locale::parse("l", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_respect_the_minimum_and_a_maximum() {
        assert!(Password::parse("p", "short", 8).is_err());
        assert!(Password::parse("p", "long enough", 8).is_ok());
        assert!(Password::parse("p", &"x".repeat(2000), 8).is_err());
    }
}
