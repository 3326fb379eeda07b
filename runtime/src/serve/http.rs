//! HTTP requests in, feature vectors and JSON errors out: the routes of `featc serve` (axum on
//! tokio), with optional bearer-token auth, bounded bodies and batches, and metrics per route.
//!
//! | route | answers |
//! |---|---|
//! | `GET /v1/features/{group}?<key field>=<value>...[&at=T]` | one key's vector |
//! | `POST /v1/features` `{"lookups": [{"group", "key": {...}, "at"?}]}` | many, any groups |
//! | `GET /v1/groups` | the groups served and their key fields |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 once the logs were read to their end, else 503 |
//! | `GET /metrics` | Prometheus text |
//! | `GET /openapi.json` | the OpenAPI document of these routes (`docs/openapi.json`) |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Lookup, LookupError, Service};

/// The OpenAPI document of the routes, as checked in at `docs/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Every route, `(method, path)`: what the router serves and the OpenAPI document describes (a
/// test holds the three equal).
pub const ROUTES: [(&str, &str); 7] = [
    ("get", "/v1/features/{group}"),
    ("post", "/v1/features"),
    ("get", "/v1/groups"),
    ("get", "/metrics"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
];

/// What the server accepts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Required as `Authorization: Bearer <token>` on every route but the health checks.
    pub token: Option<String>,
    /// The most lookups one `POST /v1/features` may hold.
    pub max_batch: usize,
    /// The largest request body, in bytes.
    pub max_body: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { token: None, max_batch: 1000, max_body: 1 << 20 }
    }
}

#[derive(Clone)]
struct App {
    service: Arc<Service>,
    config: Arc<Config>,
}

/// The routes, over a service.
pub fn router(service: Arc<Service>, config: Config) -> Router {
    let max_body = config.max_body;
    let app = App { service, config: Arc::new(config) };
    let guarded = Router::new()
        .route("/v1/features/{group}", get(one))
        .route("/v1/features", post(many))
        .route("/v1/groups", get(groups))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), auth));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route".to_owned()) })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// Serves `router` on `listen` until SIGINT or SIGTERM; `listening` is told the address
/// bound (port 0 picks a free one).
pub async fn serve(router: Router, listen: SocketAddr, listening: impl FnOnce(SocketAddr)) -> Result<(), String> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    listening(listener.local_addr().map_err(|e| e.to_string())?);
    axum::serve(listener, router).with_graceful_shutdown(stop_signal()).await.map_err(|e| e.to_string())
}

async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// A 200 with JSON written beforehand.
fn json_response(json: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": { "code": code, "message": message } }))).into_response()
}

fn lookup_error(e: &LookupError, at: Option<usize>) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match at {
        Some(i) => format!("lookups[{i}]: {}", e.message()),
        None => e.message(),
    };
    error(status, e.code(), message)
}

async fn one(
    State(app): State<App>,
    Path(group): Path<String>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(mut params)) = query else {
        return error(StatusCode::BAD_REQUEST, "bad_query", "the query string cannot be read".to_owned());
    };
    let at = params.remove("at");
    let key = params.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
    let now = now_ms();
    let lookup = Lookup { group, key, at };
    // From memory, unheld: at once (microseconds). Else off the async workers.
    let answered = match app.service.lookup_now(&lookup, now, |a| a.to_vec()) {
        Some(answered) => answered,
        None => {
            let service = app.service.clone();
            blocking(move || service.lookup_with(&lookup, now, |a| a.to_vec())).await
        }
    };
    match answered {
        Ok(json) => json_response(json),
        Err(e) => lookup_error(&e, None),
    }
}

/// Runs lookups off the async workers when they may wait: on the runner (while the pipeline
/// reads) or on Redis; the workers must stay free for other requests and the health checks.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LookupError> + Send + 'static,
) -> Result<T, LookupError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(LookupError::Internal(format!("a lookup failed: {e}"))))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    lookups: Vec<Lookup>,
}

async fn many(State(app): State<App>, body: Result<Json<Batch>, JsonRejection>) -> Response {
    let batch = match body {
        Ok(Json(b)) => b,
        Err(e) => return error(e.status(), "bad_body", e.body_text()),
    };
    if batch.lookups.len() > app.config.max_batch {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{} lookups; at most {} in one request", batch.lookups.len(), app.config.max_batch),
        );
    }
    let now = now_ms();
    let service = app.service.clone();
    let answered = blocking(move || {
        // `{"results": [<answer>, ...]}`, each answer's JSON written by serde in place.
        let mut json = b"{\"results\":[".to_vec();
        for (i, lookup) in batch.lookups.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let written = service.lookup_with(lookup, now, |a| serde_json::to_writer(&mut json, &a));
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LookupError::Internal(e.to_string())),
                Err(e) => return Ok(Err((e, i))),
            }
        }
        json.extend_from_slice(b"]}");
        Ok(Ok(json))
    })
    .await;
    match answered {
        Ok(Ok(json)) => json_response(json),
        Ok(Err((e, i))) => lookup_error(&e, Some(i)),
        Err(e) => lookup_error(&e, None),
    }
}

async fn groups(State(app): State<App>) -> Response {
    // The runner may be held while the pipeline reads: off the async workers.
    let service = app.service.clone();
    match blocking(move || Ok(service.groups())).await {
        Ok(groups) => {
            let groups: Vec<serde_json::Value> =
                groups.into_iter().map(|(name, keys)| serde_json::json!({ "group": name, "keys": keys })).collect();
            Json(serde_json::json!({ "groups": groups })).into_response()
        }
        Err(e) => lookup_error(&e, None),
    }
}

async fn readyz(State(app): State<App>) -> Response {
    if app.service.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "catching up\n").into_response()
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let mut response = app.service.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Refuses a request without the configured bearer token.
async fn auth(State(app): State<App>, request: Request, next: Next) -> Response {
    if let Some(token) = &app.config.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut response =
                error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required".to_owned());
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts every request by route and status, with its latency.
async fn observe(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    app.service.metrics.observe_request(&route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_describes_every_route_and_no_other() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> =
            super::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
