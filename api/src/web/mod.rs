//! The pages people use in a browser: the operators' console at
//! `/console/`, the drivers' app at `/app/` and the API reference at
//! `/docs`. Pages are HTML rendered here (maud); one stylesheet and one
//! hand-written script, both inside the binary, fill them from the same
//! `/api/v1` every other client uses, so the API's role gates and tenancy
//! decide what a page can show or change. Nothing is loaded from another
//! host: the Content-Security-Policy allows only this origin.
//!
//! These are pages, not API: they are registered on the app beside
//! `app::configure` and are not in `/openapi.json`.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};
use sha2::{Digest, Sha256};

mod app;
mod console;
pub mod docs;
pub mod map;

/// The stylesheet and the script, as served.
pub const CSS: &str = include_str!("../../assets/web/chargeplane.css");
pub const JS: &str = include_str!("../../assets/web/chargeplane.js");

/// Only this origin, for everything; no inline script or style.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(asset))
        .route("/console", web::get().to(to_slash))
        .route("/app", web::get().to(to_slash))
        .configure(console::routes)
        .configure(app::routes);
}

async fn to_slash(req: HttpRequest) -> HttpResponse {
    let to = format!("{}/", req.path());
    HttpResponse::MovedPermanently().insert_header((header::LOCATION, to)).finish()
}

/// A short digest of an asset, in its URL, so it can be cached for good.
fn version(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..6])
}

fn versions() -> &'static (String, String) {
    static V: OnceLock<(String, String)> = OnceLock::new();
    V.get_or_init(|| (version(CSS), version(JS)))
}

fn css_url() -> String {
    format!("/assets/chargeplane.css?v={}", versions().0)
}

fn js_url() -> String {
    format!("/assets/chargeplane.js?v={}", versions().1)
}

#[derive(serde::Deserialize)]
struct V {
    v: Option<String>,
}

/// The stylesheet or the script. Asked for by its current version, it is
/// cached for a year; otherwise revalidated each time.
async fn asset(name: web::Path<String>, q: web::Query<V>) -> HttpResponse {
    let (body, kind, current) = match name.as_str() {
        "chargeplane.css" => (CSS, "text/css; charset=utf-8", &versions().0),
        "chargeplane.js" => (JS, "text/javascript; charset=utf-8", &versions().1),
        _ => {
            return HttpResponse::NotFound()
                .json(crate::error::ApiError::not_found("not_found", format!("no asset {name}")))
        }
    };
    let cache =
        if q.v.as_ref() == Some(current) { "public, max-age=31536000, immutable" } else { "no-cache" };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, format!("\"{current}\"")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// Which part of the site a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Site {
    Console,
    App,
    Docs,
}

impl Site {
    fn as_str(self) -> &'static str {
        match self {
            Site::Console => "console",
            Site::App => "app",
            Site::Docs => "docs",
        }
    }
}

/// A page: what the script should do on it (`page`, `id`) and its content.
pub struct Page<'a> {
    pub site: Site,
    pub page: &'a str,
    pub title: &'a str,
    pub id: Option<&'a str>,
}

/// The whole document around `main`.
pub fn render(p: Page, nav: Markup, main: Markup) -> HttpResponse {
    render_with(p, nav, main, &map::Tiles::default())
}

/// The whole document, on a page that shows a map where tiles are configured:
/// the script learns the tile URL, and the policy allows that host's images.
pub fn render_with(p: Page, nav: Markup, main: Markup, tiles: &map::Tiles) -> HttpResponse {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (p.title) " · chargeplane" }
                link rel="stylesheet" href=(css_url());
                script src=(js_url()) defer {}
            }
            body class=(p.site.as_str()) data-site=(p.site.as_str()) data-page=(p.page) data-id=[p.id] data-tiles=[tiles.url()] {
                (nav)
                main { (main) }
            }
        }
    };
    let csp = match tiles.origin() {
        Some(origin) => CSP.replacen("img-src 'self' data:", &format!("img-src 'self' data: {origin}"), 1),
        None => CSP.to_owned(),
    };
    page_response_with(doc.into_string(), csp)
}

pub fn page_response(body: String) -> HttpResponse {
    page_response_with(body, CSP.to_owned())
}

fn page_response_with(body: String, csp: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

/// Where a page says what went wrong, in words.
pub fn error_box() -> Markup {
    html! { p.error role="alert" hidden {} }
}
