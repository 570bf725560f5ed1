//! Authentication (basic auth with argon2 hashes, bearer tokens) and cross-site
//! request refusal, as actix middleware.
//! Owns: the cache of verified credentials.
//! Does not: read token files or parse hashes; `config` did that at load time.
//! Limits: `limits::AUTH_CACHE_ENTRIES_MAX`.

use super::WebState;
use crate::config::AuthConfig;
use crate::limits;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Paths reachable without credentials: liveness probes carry none, and heartbeats
/// authenticate with their HMAC signature instead (`peer::protocol`).
const UNAUTHENTICATED_PATHS: [&str; 2] = ["/-/healthy", crate::peer::protocol::PATH];

/// Digests of credentials argon2 has already accepted. Keyed by a hash of user,
/// password and the stored hash, so a changed password hash invalidates the entry.
#[derive(Default)]
pub struct AuthCache {
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl AuthCache {
    fn contains(&self, key: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .is_ok_and(|verified| verified.contains(key))
    }

    fn insert(&self, key: [u8; 32]) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= limits::AUTH_CACHE_ENTRIES_MAX {
                verified.clear();
            }
            verified.insert(key);
        }
    }
}

/// Requires credentials on every path but `UNAUTHENTICATED_PATHS` when `[auth]` is
/// configured.
pub async fn require(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = request.app_data::<web::Data<WebState>>().cloned() else {
        return Ok(request
            .into_response(HttpResponse::InternalServerError().finish())
            .map_into_right_body());
    };
    let config = state.reloader.current();
    let auth = &config.auth;
    if UNAUTHENTICATED_PATHS.contains(&request.path()) || !auth.is_enabled() {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let accepted = match credentials {
        Some(value) => check(auth, &state.auth_cache, &value).await,
        None => false,
    };
    if accepted {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let response = HttpResponse::Unauthorized()
        .insert_header((
            header::WWW_AUTHENTICATE,
            "Basic realm=\"tandem\", charset=\"UTF-8\"",
        ))
        .content_type("text/plain; charset=utf-8")
        .body("authentication required: use a user from [auth] or a bearer token\n");
    Ok(request.into_response(response).map_into_right_body())
}

/// Whether an `Authorization` header value names a configured user or token.
async fn check(auth: &AuthConfig, cache: &AuthCache, header_value: &str) -> bool {
    if let Some(token) = header_value.strip_prefix("Bearer ") {
        return check_token(auth, token.trim());
    }
    let Some(encoded) = header_value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((name, password)) = decoded.split_once(':') else {
        return false;
    };
    let Some(user) = auth.users.iter().find(|user| user.name == name) else {
        return false;
    };
    let key: [u8; 32] = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([0])
        .chain_update(password.as_bytes())
        .chain_update([0])
        .chain_update(user.password_hash.as_bytes())
        .finalize()
        .into();
    if cache.contains(&key) {
        return true;
    }
    // argon2 is slow on purpose (tens of milliseconds); keep it off the HTTP workers.
    let (hash, password) = (user.password_hash.clone(), password.to_string());
    let verified = web::block(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    if verified {
        cache.insert(key);
    }
    verified
}

/// Compares digests in constant time, so neither content nor length leaks by timing.
fn check_token(auth: &AuthConfig, presented: &str) -> bool {
    let presented_digest = Sha256::digest(presented.as_bytes());
    let mut found = false;
    for token in &auth.tokens {
        let digest = Sha256::digest(token.secret());
        found |= bool::from(digest.as_slice().ct_eq(presented_digest.as_slice()));
    }
    found
}

/// Refuses state-changing requests that a browser marks as coming from another site,
/// so that a page elsewhere cannot make a logged-in browser reload or change tandem.
/// Non-browser clients (curl, `tandem reload`) send neither header and pass.
pub async fn refuse_cross_site(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || !is_cross_site(&request) {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let response = HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body("cross-site request refused: send it from tandem's own pages or without a browser\n");
    Ok(request.into_response(response).map_into_right_body())
}

fn is_cross_site(request: &ServiceRequest) -> bool {
    let headers = request.headers();
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    if let Some(site) = fetch_site {
        return !matches!(site, "same-origin" | "none");
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok());
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host != host
        }
        (Some(_), None) => true,
        _ => false,
    }
}
