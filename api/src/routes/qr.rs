//! Scan to charge: every port has a public code, printed on the pile as a
//! QR code of a URL in the drivers' app. The app resolves the code to the
//! port's live state and where to start a charge; operators download each
//! port's code as SVG to print.

use actix_web::{web, HttpRequest, HttpResponse};
use qrcode::render::svg;
use qrcode::QrCode;
use serde_json::json;

use super::nodes::view;
use super::piles::record;
use super::State;
use crate::auth::staff;
use crate::error::{ApiError, ApiResult};
use crate::money::MoneyData;

pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/q/{code}", web::get().to(resolve));
}

pub fn staff_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/piles/{id}/ports/{port}/qr.svg", staff(web::get().to(svg_code)));
}

/// A port's public code: the pile's id and the port, `32010600000001-01`.
fn code(pile: &str, port: u8) -> String {
    format!("{pile}-{port:02}")
}

fn parse(code: &str) -> Option<(&str, u8)> {
    let (pile, port) = code.rsplit_once('-')?;
    Some((pile, port.parse().ok().filter(|p| *p > 0)?))
}

#[utoipa::path(
    get,
    path = "/api/v1/q/{code}",
    tag = "qr",
    params(("code" = String, Path, description = "The port's code, `{pile}-{port:02}`")),
    responses(
        (status = 200, description = "The port's live state, station and how to start a charge there", body = Object),
        (status = 303, description = "A browser (`Accept: text/html`, as when a phone's camera opens the code) is sent to the port's page in the drivers' app, `/app/q/{code}`"),
    ),
)]
async fn resolve(state: State, req: HttpRequest, code: web::Path<String>) -> ApiResult<HttpResponse> {
    let browser = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && !code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        // Relative, so it lands right behind a proxy that adds a prefix.
        let to = format!("../../../app/q/{code}");
        return Ok(HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, to)).finish());
    }
    let unknown = || ApiError::not_found("unknown_code", format!("no port has code {code}"));
    let (pile_id, port) = parse(&code).ok_or_else(unknown)?;
    let pile = record(&state, pile_id).await.map_err(|_| unknown())?;
    if port > pile.ports {
        return Err(unknown());
    }
    let station = state.store.station(pile.station_id).await?.ok_or_else(unknown)?;
    let live = view(&state, &pile).await;
    let port_view = live.ports.get(usize::from(port) - 1);
    Ok(HttpResponse::Ok().json(json!({
        "code": code.as_str(),
        "pile_id": pile.id,
        "port": port,
        "online": live.online,
        "status": port_view.map(|p| p.status),
        "station": { "id": station.id, "name": station.name, "service_fee": station.service_fee },
        "start": { "method": "POST", "path": "/api/v1/me/charges", "body": { "pile_id": pile.id, "port": port } },
    })))
}

/// The port's QR code, as SVG, encoding `{public_url}/q/{code}`.
#[utoipa::path(
    get,
    path = "/api/v1/piles/{id}/ports/{port}/qr.svg",
    tag = "qr",
    params(("id" = String, Path, description = "The pile"), ("port" = u8, Path, description = "The port, from 1")),
    responses(
        (status = 200, description = "The QR code; `x-qr-url` says what it encodes", content_type = "image/svg+xml", body = String),
    ),
    security(("bearer" = [])),
)]
async fn svg_code(
    state: State,
    scope: crate::tenancy::Scope,
    money: MoneyData,
    path: web::Path<(String, u8)>,
) -> ApiResult<HttpResponse> {
    let (id, port) = path.into_inner();
    let pile = scope.pile(&state, &id).await?;
    if port == 0 || port > pile.ports {
        return Err(ApiError::not_found("unknown_port", format!("pile {id} has ports 1 to {}", pile.ports)));
    }
    let url = format!("{}/q/{}", money.config.public_url.trim_end_matches('/'), code(&id, port));
    let qr = QrCode::new(url.as_bytes()).map_err(|e| ApiError::unavailable(e.to_string()))?;
    let image = qr.render::<svg::Color>().min_dimensions(256, 256).build();
    Ok(HttpResponse::Ok().content_type("image/svg+xml").insert_header(("x-qr-url", url)).body(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_a_pile_and_port_and_bad_ones_do_not_parse() {
        assert_eq!(code("32010600000001", 1), "32010600000001-01");
        assert_eq!(parse("32010600000001-01"), Some(("32010600000001", 1)));
        assert_eq!(parse("05C0FFEE-10"), Some(("05C0FFEE", 10)));
        for bad in ["32010600000001", "x-00", "x-", "x-256", "-"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
