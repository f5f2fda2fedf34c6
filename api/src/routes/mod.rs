//! The HTTP routes, one module per resource, all under `/api/v1` except the
//! operational `/healthz` and `/metrics`. Malformed JSON or paths answer 400
//! with the same JSON error body as every other failure.

use std::sync::Arc;

use actix_web::web;
use actors::Platform;

use crate::error::ApiError;

pub mod alarms;
pub mod drivers;
pub mod live;
pub mod merchants;
pub mod ops;
pub mod payments;
pub mod piles;
pub mod plans;
pub mod qr;
pub mod sessions;
pub mod stations;
pub mod tariffs;

pub type State = web::Data<Arc<Platform>>;

/// A JSON body that may be left out: empty means all defaults, but a body
/// that is there must be well-formed.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// The routes, for one HTTP worker; `in_flight` is shared by all workers.
pub fn configure(
    platform: Arc<Platform>,
    in_flight: web::Data<crate::idempotency::InFlight>,
    money: crate::money::MoneyData,
    geo: stations::Geo,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(platform))
            .app_data(in_flight)
            .app_data(money)
            .app_data(geo)
            .app_data(
                web::JsonConfig::default().limit(64 * 1024).error_handler(|err, _| {
                    ApiError::bad_request(format!("malformed JSON body: {err}")).into()
                }),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, _| ApiError::bad_request(format!("malformed path: {err}")).into()),
            )
            .configure(ops::routes)
            .service(
                web::scope("/api/v1")
                    // Drivers, payment providers and logins: each checks
                    // its own credentials.
                    .configure(crate::auth::routes)
                    .configure(drivers::routes)
                    .configure(live::driver_routes)
                    .configure(qr::public_routes)
                    .configure(stations::public_routes)
                    .configure(payments::routes)
                    // Everything else is the operators' and behind `staff`.
                    .service(
                        web::scope("")
                            // Inside `staff`: only authorized commands are forwarded.
                            .wrap(actix_web::middleware::from_fn(crate::forward::piles))
                            .wrap(actix_web::middleware::from_fn(crate::auth::staff))
                            .configure(crate::auth::staff_routes)
                            .configure(payments::staff_routes)
                            .configure(live::staff_routes)
                            .configure(qr::staff_routes)
                            .configure(tariffs::routes)
                            .configure(alarms::routes)
                            .configure(plans::routes)
                            .configure(stations::routes)
                            .configure(piles::routes)
                            .configure(sessions::routes)
                            .configure(merchants::routes),
                    ),
            );
    }
}
