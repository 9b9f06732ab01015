//! Tokens already verified, so that a caller's every call does not pay for
//! an Ed25519 signature check and a JSON parse again. A token is kept with
//! the principal it proved until it would be refused by time — its expiry
//! plus the leeway, or its key's `verify_until` if sooner — and looked up by
//! its exact text, so a token that differs in any byte is verified afresh.
//! Nothing can revoke a token before its expiry anyway (access tokens live
//! at most 15 minutes and are not checked against identity per call), so the
//! cache changes no answer, only its cost.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::Principal;

/// At most this many tokens are kept: about a megabyte per thousand, and a
/// flood of distinct valid tokens cannot grow it without end.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(super) struct Verified {
    tokens: Mutex<HashMap<Box<str>, (Principal, i64)>>,
}

impl Verified {
    /// The principal `token` proved, if it still would at `now` (seconds).
    pub(super) fn get(&self, token: &str, now: i64) -> Option<Principal> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        match tokens.get(token) {
            Some((principal, valid_until)) if now < *valid_until => Some(principal.clone()),
            Some(_) => {
                tokens.remove(token);
                None
            }
            None => None,
        }
    }

    /// Keeps `token`'s principal until `valid_until` (seconds, exclusive).
    pub(super) fn keep(&self, token: &str, principal: &Principal, valid_until: i64, now: i64) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.len() >= CAPACITY {
            tokens.retain(|_, (_, until)| now < *until);
            if tokens.len() >= CAPACITY {
                // All still valid: start over rather than grow.
                tokens.clear();
            }
        }
        tokens.insert(token.into(), (principal.clone(), valid_until));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PrincipalKind;

    fn principal(subject: &str) -> Principal {
        Principal {
            kind: PrincipalKind::Person,
            subject: subject.to_owned(),
            roles: Default::default(),
            departments: Default::default(),
            token_id: String::new(),
            email_verified: true,
        }
    }

    #[test]
    fn a_token_is_kept_until_it_would_be_refused() {
        let verified = Verified::default();
        verified.keep("a.b.c", &principal("p"), 100, 0);
        assert_eq!(
            verified.get("a.b.c", 99).map(|p| p.subject),
            Some("p".into())
        );
        assert_eq!(verified.get("a.b.c", 100), None, "kept past its end");
        assert_eq!(verified.len(), 0, "an ended token is dropped");
        assert_eq!(verified.get("a.b.d", 0), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let verified = Verified::default();
        for i in 0..CAPACITY {
            verified.keep(
                &format!("t{i}"),
                &principal("p"),
                if i % 2 == 0 { 10 } else { 100 },
                0,
            );
        }
        // Full: the ended ones go first.
        verified.keep("new", &principal("p"), 100, 50);
        assert_eq!(verified.len(), CAPACITY / 2 + 1);
        for i in 0..CAPACITY {
            verified.keep(&format!("u{i}"), &principal("p"), 100, 50);
        }
        // Full of tokens still valid: it starts over instead of growing.
        assert!(verified.len() <= CAPACITY, "{}", verified.len());
        assert!(
            verified.get(&format!("u{}", CAPACITY - 1), 50).is_some(),
            "the newest is kept"
        );
    }
}
