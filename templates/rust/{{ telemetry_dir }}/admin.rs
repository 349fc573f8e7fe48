//! The admin listener: reads and changes the telemetry flags.
//!
//! It answers on [`ADMIN_PATH`] on its own address, never on the service's public listener:
//! [`ADMIN_ADDRESS`](super::defaults::ADMIN_ADDRESS), a loopback address, unless
//! `TELEMETRY_ADMIN_ADDR` names another (`off` turns the listener off).
//!
//! - `GET` answers `{"enabled": true, "sampling_ratio": 1.0, "sampler": "..."}`.
//! - `PUT` with `Content-Type: application/json`, a [`Flags`] body and
//!   `Authorization: Bearer $TELEMETRY_ADMIN_TOKEN` changes the flags and answers the new state.
//!   Without a configured token every `PUT` is refused (403); a missing or wrong token is 401,
//!   another content type 415, a body that is not a valid document 400, switching on what
//!   `OTEL_SDK_DISABLED=true` turned off 409.
//! - Any other method is 405 with `Allow: GET, PUT`.
//!
//! The token is compared in constant time; every change is logged with the caller's address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use super::defaults::ADMIN_PATH;
use super::flags::{self, Flags, Source};
use super::switch;

/// Serves the admin endpoint on `listener` until the returned future is dropped.
///
/// A `PUT` must carry `token` as its bearer token; without a token every `PUT` is refused.
///
/// # Errors
///
/// The I/O error that ended the listener.
pub async fn serve(listener: TcpListener, token: Option<String>) -> std::io::Result<()> {
    let admin = Arc::new(Admin {
        token: token.filter(|token| !token.is_empty()),
    });
    let routes = Router::new()
        .route(ADMIN_PATH, any(handle))
        .with_state(admin);
    axum::serve(
        listener,
        routes.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// What every request of the admin listener shares.
#[derive(Debug)]
struct Admin {
    token: Option<String>,
}

async fn handle(
    State(admin): State<Arc<Admin>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match method {
        Method::GET | Method::HEAD => Json(flags::state()).into_response(),
        Method::PUT => admin.put(remote, &headers, &body),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(ALLOW, "GET, PUT")],
            error("use GET to read the flags or PUT to change them"),
        )
            .into_response(),
    }
}

impl Admin {
    fn put(&self, remote: SocketAddr, headers: &HeaderMap, body: &[u8]) -> Response {
        let Some(token) = &self.token else {
            return (
                StatusCode::FORBIDDEN,
                error("changing the flags is off: set TELEMETRY_ADMIN_TOKEN to turn it on"),
            )
                .into_response();
        };
        if !bearer_matches(headers, token) {
            return (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                error("send Authorization: Bearer with the token of TELEMETRY_ADMIN_TOKEN"),
            )
                .into_response();
        }
        if !is_json(headers) {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                error("send the flags as Content-Type: application/json"),
            )
                .into_response();
        }
        let flags = match Flags::from_json(body) {
            Ok(flags) => flags,
            Err(reason) => {
                let message = format!(
                    r#"expected {{"enabled": true|false, "sampling_ratio": 0..1}}: {reason}"#
                );
                return (StatusCode::BAD_REQUEST, error(&message)).into_response();
            }
        };
        if flags.enabled == Some(true) && !switch::available() {
            return (
                StatusCode::CONFLICT,
                error("OTEL_SDK_DISABLED=true turned telemetry off until the next restart"),
            )
                .into_response();
        }
        let state = flags::apply(flags, Source::Admin { remote });
        Json(state).into_response()
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some((scheme, presented)) = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(presented.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// Whether the body is declared as JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

fn error(message: &str) -> Json<serde_json::Value> {
    Json(json!({ "error": message }))
}
