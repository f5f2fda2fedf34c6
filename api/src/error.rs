//! Every error the API returns: a status and a JSON body
//! `{"error": code, "message": text, "field": name?}` with a stable code
//! that clients can switch on.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use store::StoreError;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable code: `invalid`, `not_found`, `unknown_station`, `forbidden`...
    #[schema(value_type = String)]
    pub error: &'static str,
    pub message: String,
    /// The request field at fault, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub field: Option<Cow<'static, str>>,
    /// Seconds to wait, sent as `Retry-After` (rate limits).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error, message: message.into(), field: None, retry_after: None }
    }

    /// Tells the client to wait `wait` (rounded up to whole seconds).
    pub fn retry_after(self, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError { retry_after: Some(secs.max(1)), ..self }
    }

    pub fn not_found(what: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what, message)
    }

    pub fn conflict(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, message)
    }

    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
    }

    /// A body that is not JSON is a 400; JSON of the wrong shape (a field
    /// missing, unknown, of the wrong type or out of range) is a 422, naming
    /// the field where serde does.
    pub fn json(e: &serde_json::Error) -> Self {
        Self::json_at(".", e)
    }

    /// As [`ApiError::json`], for an error at `path` in the body (`.` for
    /// the top), as serde_path_to_error tells it.
    pub fn json_at(path: &str, e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        if !matches!(e.classify(), Category::Data) {
            return Self::bad_request(format!("malformed JSON body: {e}"));
        }
        let text = e.to_string();
        let at = (path != "." && !path.is_empty()).then(|| path.to_owned());
        let message = format!("invalid JSON body: {text}");
        match named_field(&text).or(at) {
            Some(field) => Self::invalid(field, message),
            None => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

/// The field a serde message names: "missing field `x`", "unknown field `x`".
pub fn named_field(text: &str) -> Option<String> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| text.split_once(p))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field.to_owned())
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        res.json(self)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found("not_found", m),
            StoreError::Conflict(m) => ApiError::conflict("conflict", m),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::unavailable("storage is failing; try again")
            }
            StoreError::Closed => ApiError::unavailable("storage is shut down"),
            StoreError::Refused(m) => ApiError::new(StatusCode::PAYMENT_REQUIRED, "insufficient_balance", m),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
