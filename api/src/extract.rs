//! The edges of every request: bodies, queries and paths that do not parse,
//! bodies too large, paths that match nothing and methods a path does not
//! take all answer the JSON error body of [`ApiError`], never actix's
//! plain-text or empty defaults.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceResponse};
use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{mime, web, FromRequest, HttpRequest, HttpResponse};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest JSON body a route takes.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Registers the error handlers of actix's extractors and the JSON 404/405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|e, _| json_error(e).into()))
        .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(&e).into()))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::bad_request(format!("malformed path: {e}")).into()),
        )
        .default_service(web::to(unmatched));
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the body is over {limit} bytes"))
}

/// The last net, wrapped around the app: an error response that is not
/// JSON (actix's own, e.g. the 413 of a `String` or `Bytes` body over the
/// `PayloadConfig` limit, which takes no error handler) becomes the JSON
/// error body with the same status.
pub fn json_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let message = match res.response().error() {
        Some(e) => e.to_string(),
        None => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = actix_web::ResponseError::error_response(&ApiError::new(status, error, message));
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, body).map_into_right_body()))
}

fn json_error(e: JsonPayloadError) -> ApiError {
    match e {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            too_large(limit)
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => too_large(JSON_LIMIT),
        JsonPayloadError::Deserialize(e) => ApiError::json(&e),
        e => ApiError::bad_request(format!("malformed JSON body: {e}")),
    }
}

/// serde_urlencoded says which field only when one is missing or unknown;
/// otherwise the message is the reason.
fn query_error(e: &QueryPayloadError) -> ApiError {
    let text = e.to_string();
    match crate::error::named_field(&text) {
        Some(field) => ApiError::invalid(field, format!("invalid query: {text}")),
        None => ApiError::bad_request(format!("invalid query: {text}")),
    }
}

/// A JSON body, like `web::Json`, but a value of the wrong shape is a 422
/// naming the field by its path (`periods[0].from`), which serde_json alone
/// does not tell for a value that fails to parse (an amount of `"1e30"`).
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .and_then(|t| t.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::bad_request("the body must be application/json").into());
            }
            let body = body.await?;
            if body.len() > JSON_LIMIT {
                return Err(too_large(JSON_LIMIT).into());
            }
            Ok(Json(parse(&body)?))
        })
    }
}

/// Parses a JSON body, naming the field at fault in the error.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ApiError::json_at(&e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| ApiError::json(&e))?;
    Ok(value)
}

/// No route matched: a 405 naming the methods the path takes (from the
/// OpenAPI document, which lists exactly the registered routes), else 404.
async fn unmatched(req: HttpRequest) -> HttpResponse {
    let rmap = req.resource_map();
    let Some(pattern) = rmap.match_pattern(req.path()) else {
        let e = ApiError::not_found("not_found", format!("no route {}", req.path()));
        return actix_web::ResponseError::error_response(&e);
    };
    let e = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {}", req.path(), req.method()),
    );
    let mut res = actix_web::ResponseError::error_response(&e);
    if let Some(methods) = allowed().get(&unregex(&pattern)) {
        let allow = methods.iter().cloned().collect::<Vec<_>>().join(", ");
        if let Ok(v) = header::HeaderValue::from_str(&allow) {
            res.headers_mut().insert(header::ALLOW, v);
        }
    }
    res
}

/// The methods of each documented path pattern.
fn allowed() -> &'static HashMap<String, BTreeSet<String>> {
    static ALLOWED: OnceLock<HashMap<String, BTreeSet<String>>> = OnceLock::new();
    ALLOWED.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        paths
            .into_iter()
            .map(|(path, ops)| {
                const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];
                let methods = ops.as_object().map(|o| {
                    o.keys().filter(|m| METHODS.contains(&m.as_str())).map(|m| m.to_uppercase()).collect()
                });
                (path, methods.unwrap_or_default())
            })
            .collect()
    })
}

/// An actix pattern as the document writes it: `{id:\\d+}` is `{id}`.
fn unregex(pattern: &str) -> String {
    let (mut out, mut in_name, mut in_regex) = (String::with_capacity(pattern.len()), false, false);
    for c in pattern.chars() {
        match c {
            '{' if !in_regex => in_name = true,
            ':' if in_name => {
                (in_name, in_regex) = (false, true);
                continue;
            }
            '}' => (in_name, in_regex) = (false, false),
            _ if in_regex => continue,
            _ => {}
        }
        out.push(c);
    }
    out
}
