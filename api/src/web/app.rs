//! The drivers' app, for a phone: the pages' frames, filled by the script
//! from the drivers' routes (`/api/v1/me/...`) with the driver's token.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::map::Tiles;
use super::{error_box, render, render_with, Page, Site};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/", web::get().to(home))
        .route("/app/login", web::get().to(login))
        .route("/app/wallet", web::get().to(wallet))
        .route("/app/q/{code}", web::get().to(port))
        .route("/app/charges", web::get().to(history))
        .route("/app/charges/{id}", web::get().to(charge));
}

fn nav() -> Markup {
    html! {
        header.top {
            a.brand href="/app/" { "chargeplane" }
            nav {
                a href="/app/" { "Charge" }
                a href="/app/wallet" { "Wallet" }
                a href="/app/charges" { "History" }
            }
            span.who { button #signout type="button" hidden { "Sign out" } }
        }
    }
}

fn page(page: &str, title: &str, id: Option<&str>, main: Markup) -> HttpResponse {
    render(Page { site: Site::App, page, title, id }, nav(), main)
}

async fn login() -> HttpResponse {
    let main = html! {
        section.card {
            h1 { "Sign in" }
            p.muted { "We send a code to your phone. New here? The same code registers you." }
            form #code-form {
                label { "Phone" input name="phone" type="tel" autocomplete="tel" required; }
                button type="submit" { "Send code" }
            }
            form #signin-form hidden {
                label { "Code" input name="code" inputmode="numeric" autocomplete="one-time-code" required; }
                button type="submit" { "Sign in" }
            }
            (error_box())
            p #notice.muted hidden {}
        }
    };
    page("login", "Sign in", None, main)
}

async fn home(tiles: web::Data<Tiles>) -> HttpResponse {
    let main = html! {
        section.card {
            h1 { "Charge" }
            p { "Wallet: " strong #balance { "…" } }
            p.muted { "Scan the QR code on the port with your camera, or type the code printed under it." }
            form #port-form {
                label { "Port code" input name="code" placeholder="32010600000001-01" required; }
                button type="submit" { "Open port" }
            }
            (error_box())
        }
        section.card {
            h2 { "Charging now" }
            ul #open-charges.plain {}
        }
        section.card {
            h2 { "Stations near me" }
            form #near-form.inline {
                input name="lat" inputmode="decimal" placeholder="latitude" size="9" required;
                input name="lon" inputmode="decimal" placeholder="longitude" size="9" required;
                button type="submit" { "Find" }
                button #locate.secondary type="button" { "Use my location" }
            }
            @if tiles.url().is_some() {
                div #map.map hidden {}
            }
            ul #near.plain {}
        }
    };
    render_with(Page { site: Site::App, page: "home", title: "Charge", id: None }, nav(), main, &tiles)
}

async fn wallet() -> HttpResponse {
    let main = html! {
        section.card {
            h1 { "Wallet" }
            p.big { strong #balance { "…" } }
            p.muted #held {}
            form #topup-form {
                label { "Top up, yuan" input name="amount" inputmode="decimal" value="50.00" required; }
                button type="submit" { "Top up" }
            }
            div #pay hidden {}
            (error_box())
        }
        section.card {
            h2 { "Entries" }
            ul #entries.plain {}
        }
        section.card {
            h2 { "Cards" }
            ul #cards.plain {}
            form #card-form {
                label { "Card number (8 or 16 hex digits)" input name="number" required autocomplete="off"; }
                label { "Kind" select name="kind" { option value="physical" { "plastic card" } option value="logical" { "in the app" } } }
                button type="submit" { "Link card" }
            }
        }
    };
    page("wallet", "Wallet", None, main)
}

async fn port(code: web::Path<String>) -> HttpResponse {
    let main = html! {
        section.card {
            h1 { "Port " span #port-code { (code.as_str()) } }
            p #port-station {}
            p { "State: " strong #port-status { "…" } }
            form #start-form hidden {
                label #plan-label hidden { "Plan" select name="plan_id" {} }
                label { "Prepay, yuan (empty: from the wallet)" input name="prepaid" inputmode="decimal"; }
                button type="submit" { "Start charging" }
            }
            (error_box())
        }
    };
    page("port", "Port", Some(&code), main)
}

async fn charge(id: web::Path<String>) -> HttpResponse {
    let main = html! {
        section.card {
            h1 { "Charging " span #live.live { "connecting" } }
            dl.facts {
                dt { "State" } dd #c-state { "…" }
                dt { "Energy" } dd #c-kwh { "…" }
                dt { "Power" } dd #c-power { "…" }
                dt { "Cost so far" } dd #c-amount { "…" }
                dt { "Time" } dd #c-elapsed { "…" }
            }
            button #stop-charge.danger type="button" hidden { "Stop charging" }
            (error_box())
        }
        section.card #bill-card hidden {
            h2 { "Bill" }
            div #bill {}
        }
    };
    page("charge", "Charge", Some(&id), main)
}

async fn history() -> HttpResponse {
    let main = html! {
        section.card {
            h1 { "History" }
            (error_box())
            ul #history.plain {}
        }
    };
    page("history", "History", None, main)
}
