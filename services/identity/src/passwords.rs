//! Password hashing with argon2id, off the async runtime and with bounded
//! concurrency, so that a storm of logins queues for the hashing threads
//! instead of starving every other call.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::Error;

/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: checking unknown accounts against it
    /// costs what checking a real account costs, so timing reveals nothing.
    decoy: Arc<String>,
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Passwords {
    pub fn new(concurrency: usize) -> Result<Self, Error> {
        let decoy = argon2()?
            .hash_password(crate::domain::secrets::new_secret().as_bytes())
            .map_err(|e| Error::Internal(format!("hashing the decoy: {e}")))?
            .to_string();
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy: Arc::new(decoy),
        })
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.expose().to_owned();
        self.blocking(move || {
            argon2()?
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
        })
        .await
    }

    /// Whether `password` matches `hash`; `None` checks against the decoy
    /// and answers false, in the same time.
    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, Error> {
        let password = password.expose().to_owned();
        let (hash, real) = match hash {
            Some(hash) if !hash.is_empty() => (hash.to_owned(), true),
            _ => (self.decoy.as_str().to_owned(), false),
        };
        self.blocking(move || {
            Ok(argon2()?
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
                && real)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("the hashing pool is closed".to_owned()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_never_does() {
        let passwords = Passwords::new(2).unwrap();
        let secret = Password::presented("correct horse battery staple");
        let hash = passwords.hash(&secret).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords.verify(&secret, Some(&hash)).await.unwrap());
        assert!(
            !passwords
                .verify(&Password::presented("wrong"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify(&secret, None).await.unwrap());
    }
}
