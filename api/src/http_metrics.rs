//! Each HTTP request measured and told: counts and latencies by route
//! pattern (not raw path, so ids do not explode the label set), method and
//! status, and one log line with who asked.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use domain::accounts::Principal;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new("chargeplane_http_requests_total", "HTTP requests by route, method and status."),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "chargeplane_http_request_duration_seconds",
                "HTTP request latency by route and method.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["route", "method"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("unique metric");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        HttpMetrics { requests, duration }
    }
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<actix_web::web::Data<HttpMetrics>>().cloned();
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.call(req).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    // The route pattern, not the path: ids stay out of the line's shape and
    // nothing from the query string (codes, tokens) is ever logged.
    let user = match res.request().extensions().get::<Principal>() {
        Some(Principal::Staff { user_id }) => format!("user:{user_id}"),
        Some(Principal::Driver { driver_id }) => format!("driver:{driver_id}"),
        None => "-".to_owned(),
    };
    let ms = (elapsed * 1000.0).round() as u64;
    // Scrapes and probes come every few seconds: kept out of the INFO log.
    if matches!(route.as_str(), "/metrics" | "/healthz" | "/readyz") {
        tracing::debug!(target: "http", %method, %route, status, ms, %user, "request");
    } else {
        tracing::info!(target: "http", %method, %route, status, ms, %user, "request");
    }
    if let Some(m) = metrics {
        m.requests.with_label_values(&[&route, &method, &status.to_string()]).inc();
        m.duration.with_label_values(&[&route, &method]).observe(elapsed);
    }
    Ok(res)
}
