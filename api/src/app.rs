//! The API's route table: every `/api/v1` route and the operational ones,
//! each module's under the scope and sign-in gate it belongs to, with the
//! shared state the handlers take. Apart from `routes` so the modules that
//! serve routes outside it (`auth`, `openapi`) and `routes`' shared helpers
//! do not import each other; `openapi`'s tests read this table to check the
//! document lists exactly the registered routes.

use std::sync::Arc;

use actix_web::web;
use actors::Platform;

use crate::routes::{
    accounts, alarms, cluster_events, drivers, live, merchants, nodes, operators, ops, payments, piles,
    plans, power_history, qr, reports, rules, sessions, stations, tariffs,
};

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
            .configure(crate::extract::configure)
            .configure(ops::routes)
            .configure(nodes::routes)
            .configure(cluster_events::routes)
            .configure(crate::openapi::routes)
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
                    // Everything else is the operators': signed in here,
                    // and each route gated by the role it needs (`auth`).
                    .service(
                        web::scope("")
                            .wrap(actix_web::middleware::from_fn(crate::auth::signed_in))
                            .configure(crate::auth::staff_routes)
                            .configure(operators::routes)
                            .configure(payments::staff_routes)
                            .configure(live::staff_routes)
                            .configure(qr::staff_routes)
                            .configure(tariffs::routes)
                            .configure(alarms::routes)
                            .configure(plans::routes)
                            .configure(stations::routes)
                            .configure(power_history::routes)
                            .configure(piles::routes)
                            .configure(sessions::routes)
                            .configure(merchants::routes)
                            .configure(rules::routes)
                            .configure(accounts::routes)
                            .configure(reports::routes),
                    ),
            );
    }
}
