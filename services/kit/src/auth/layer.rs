//! Authentication as a tower layer: a valid bearer token becomes a
//! [`Principal`](super::Principal) in the request's extensions.
//!
//! An async layer rather than a tonic interceptor because verifying may need
//! to fetch identity's keys (a new `kid` after a key rotation).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::TokenVerifier;

/// gRPC paths that never need a token: health probes and reflection.
const PUBLIC_PREFIXES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Option<Arc<TokenVerifier>>,
}

impl AuthLayer {
    pub fn new(verifier: TokenVerifier) -> Self {
        Self {
            verifier: Some(Arc::new(verifier)),
        }
    }

    /// A layer that accepts no token at all: every request is anonymous, and
    /// any `authorization` header is refused. For services built before their
    /// verifier is configured (never in production).
    pub fn refuse_all() -> Self {
        Self { verifier: None }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Option<Arc<TokenVerifier>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone that was made ready is the one we call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let path = request.uri().path();
            if PUBLIC_PREFIXES
                .iter()
                .any(|prefix| path.starts_with(prefix))
            {
                return inner.call(request).await;
            }
            let Some(header) = request.headers().get(http::header::AUTHORIZATION) else {
                // Anonymous: handlers that need a caller answer UNAUTHENTICATED.
                return inner.call(request).await;
            };
            let token = header
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim);
            let outcome = match (token, verifier) {
                (Some(token), Some(verifier)) => verifier.verify(token).await,
                (None, _) => Err(super::AuthError::Malformed),
                (Some(_), None) => Err(super::AuthError::UnknownKey(String::new())),
            };
            match outcome {
                Ok(principal) => {
                    tracing::Span::current().record("enduser.id", principal.subject.as_str());
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(error) => {
                    tracing::info!(%error, "refused access token");
                    Ok(tonic::Status::from(error).into_http())
                }
            }
        })
    }
}
