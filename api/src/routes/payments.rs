//! Payment providers talk to the platform here: the signed asynchronous
//! notification that credits a top-up (each configured provider checks its
//! own signatures, the ledger checks are shared), the sandbox provider that
//! pays an order and notifies like a real one when it is turned on, and the
//! reconciliation of a provider's statement against the ledger.
//!
//! Nothing unsigned is trusted: a notification is checked for its HMAC,
//! its order and its amount before anything is credited, and crediting is
//! once per order however often the provider repeats itself. Every outcome
//! is counted in `chargeplane_payment_notifications_total{result}`.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::accounts::OrderStatus;
use domain::payment::{self, Booked, NotifyError};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::State;
use crate::auth::admin;
use crate::error::{ApiError, ApiResult};
use crate::money::MoneyData;
use crate::providers::Provider;

/// Providers' routes: checked by signature, not by login. The sandbox's
/// route answers 404 unless the configuration turns the sandbox on.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/payments/{provider}/notify", web::post().to(notify))
        .route("/payments/sandbox/orders/{id}/pay", web::post().to(sandbox_pay));
}

/// The operators' side.
pub fn staff_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reconciliations", admin(web::post().to(reconcile)));
}

fn unknown_provider(name: &str) -> ApiError {
    ApiError::not_found("unknown_provider", format!("no payment provider {name} is configured"))
}

/// Checks and books one notification; the outcome is counted either way.
async fn confirm(
    state: &State,
    money: &MoneyData,
    provider: &dyn Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<bool> {
    let result = async {
        // Nothing unsigned reaches the store.
        let n = provider.authenticate(headers, body).map_err(notify_error)?;
        // Another provider's order is no order of this one's.
        let order = state.store.order(&n.order_id).await?.filter(|o| o.provider == provider.name());
        payment::accept(&n, order.as_ref().map(|o| o.amount)).map_err(notify_error)?;
        let Some(order) = order else { return Err(notify_error(NotifyError::UnknownOrder)) };
        if order.status == OrderStatus::Paid {
            // The same transaction again is a replay, acknowledged so the
            // provider stops repeating it; another one is refused.
            if order.provider_txn.as_deref() == Some(n.provider_txn.as_str()) {
                return Ok(false);
            }
            return Err(ApiError::conflict("already_paid", format!("order {} is paid already", order.id)));
        }
        let credited = state.store.pay_order(&n.order_id, &n.provider_txn, n.paid_at).await?;
        if credited {
            // A charge running on this wallet may now spend more.
            actors::session::topped_up(state, order.driver_id);
        }
        Ok::<_, ApiError>(credited)
    }
    .await;
    let label = match &result {
        Ok(true) => "credited",
        Ok(false) => "replay",
        Err(e) => e.error,
    };
    money.notifications.with_label_values(&[label]).inc();
    if !matches!(result, Ok(true)) {
        tracing::warn!(provider = provider.name(), result = label, "payment notification not credited");
    }
    result
}

fn notify_error(e: NotifyError) -> ApiError {
    let status = match e {
        NotifyError::BadSignature => StatusCode::UNAUTHORIZED,
        NotifyError::UnknownOrder => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

#[utoipa::path(
    post,
    path = "/api/v1/payments/{provider}/notify",
    tag = "payments",
    params(("provider" = String, Path, description = "A configured provider's name")),
    request_body = Object,
    responses(
        (status = 200, description = "`{credited}`: false for a repeated notification", body = Object),
    ),
)]
async fn notify(
    state: State,
    money: MoneyData,
    req: HttpRequest,
    provider: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let provider = money.provider(&provider).ok_or_else(|| unknown_provider(&provider))?;
    let credited = confirm(&state, &money, provider, req.headers(), &body).await?;
    Ok(HttpResponse::Ok().json(json!({ "credited": credited })))
}

/// The sandbox provider pays an order: it signs a notification as a real
/// provider would and delivers it to the notification endpoint's logic.
/// Only when `[payments] sandbox = true`: it pays without money.
#[utoipa::path(
    post,
    path = "/api/v1/payments/sandbox/orders/{id}/pay",
    tag = "payments",
    params(("id" = String, Path, description = "The order")),
    responses(
        (status = 200, description = "`{credited, order}`", body = Object),
    ),
)]
async fn sandbox_pay(state: State, money: MoneyData, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let (Some(sandbox), Some(provider)) = (&money.config.sandbox, money.provider("sandbox")) else {
        return Err(unknown_provider("sandbox"));
    };
    let order = state
        .store
        .order(&id)
        .await?
        .filter(|o| o.provider == provider.name())
        .ok_or_else(|| ApiError::not_found("unknown_order", format!("no sandbox order {id}")))?;
    let (body, signature) = sandbox.pay(&order.id, order.amount, state.now());
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("x-chargeplane-signature"),
        HeaderValue::from_str(&signature).expect("hex is a header value"),
    );
    let credited = confirm(&state, &money, provider, &headers, &body).await?;
    let order = state.store.order(&id).await?.filter(|o| o.status == OrderStatus::Paid);
    Ok(HttpResponse::Ok().json(json!({ "credited": credited, "order": order })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Window {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// A provider's statement (CSV body) against the payments the ledger
/// booked in `[from, until)`.
#[utoipa::path(
    post,
    path = "/api/v1/reconciliations",
    tag = "payments",
    params(Window),
    request_body(content = String, content_type = "text/csv", description = "provider_txn,order_id,amount,paid_at"),
    responses(
        (status = 200, description = "`{clean, result}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn reconcile(state: State, window: web::Query<Window>, body: String) -> ApiResult<HttpResponse> {
    if window.until <= window.from {
        return Err(ApiError::invalid("until", "until is after from"));
    }
    let lines = payment::parse_statement(&body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_statement", e.to_string()))?;
    let booked: Vec<Booked> = state
        .store
        .paid_orders(window.from, window.until)
        .await?
        .into_iter()
        .filter_map(|o| Some(Booked { provider_txn: o.provider_txn?, order_id: o.id, amount: o.amount }))
        .collect();
    let result = payment::reconcile(&lines, &booked);
    Ok(HttpResponse::Ok().json(json!({ "clean": result.is_clean(), "result": result })))
}
