//! Every error the API returns: a status and a JSON body
//! `{"error": code, "message": text, "field": name?}` with a stable code
//! that clients can switch on.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use engine::store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error, message: message.into(), field: None }
    }

    pub fn not_found(what: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what, message)
    }

    pub fn conflict(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, message)
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError { field: Some(field), ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message) }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
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
        HttpResponse::build(self.status).json(self)
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
