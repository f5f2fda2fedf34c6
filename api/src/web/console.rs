//! The operators' console: the pages' frames. The script fills them from
//! the API with the signed-in user's token, so each user sees what the
//! API lets them: controls that change things carry `needs-manager` and
//! are shown to managers and the admin only (the API refuses the rest).

use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::{error_box, render, Page, Site};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/", web::get().to(overview))
        .route("/console/login", web::get().to(login))
        .route("/console/stations", web::get().to(stations))
        .route("/console/stations/{id}", web::get().to(station))
        .route("/console/sessions", web::get().to(sessions))
        .route("/console/sessions/{id}", web::get().to(session))
        .route("/console/alarms", web::get().to(alarms))
        .route("/console/prices", web::get().to(prices))
        .route("/console/reports", web::get().to(reports))
        .route("/console/users", web::get().to(users));
}

fn nav() -> Markup {
    html! {
        header.top {
            a.brand href="/console/" { "chargeplane" }
            nav {
                a href="/console/" { "Overview" }
                a href="/console/stations" { "Stations" }
                a href="/console/sessions" { "Sessions" }
                a href="/console/alarms" { "Alarms" }
                a href="/console/prices" { "Prices" }
                a href="/console/reports" { "Reports" }
                a.not-merchant href="/console/users" { "Users" }
                a href="/docs" { "API" }
            }
            span.who {
                span #who {}
                button #signout type="button" hidden { "Sign out" }
            }
        }
    }
}

fn page(page: &str, title: &str, id: Option<&str>, main: Markup) -> HttpResponse {
    render(Page { site: Site::Console, page, title, id }, nav(), main)
}

async fn login() -> HttpResponse {
    let main = html! {
        section.card.narrow {
            h1 { "Sign in" }
            p.muted { "Platform users: admin, managers, staff and merchants." }
            form #login-form {
                label { "User name" input name="username" autocomplete="username" required; }
                label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                (error_box())
                button type="submit" { "Sign in" }
            }
        }
    };
    page("login", "Sign in", None, main)
}

async fn overview() -> HttpResponse {
    let tile = |id: &str, label: &str| {
        html! { div.tile { span.label { (label) } strong id=(id) { "…" } } }
    };
    let main = html! {
        h1 { "Overview " span #live.live title="live updates" { "connecting" } }
        (error_box())
        div.tiles {
            (tile("piles-online", "Piles online"))
            (tile("piles-offline", "Piles offline"))
            (tile("ports-charging", "Ports charging"))
            (tile("power-now", "Power now"))
            (tile("energy-today", "Energy today"))
            (tile("revenue-today", "Revenue today"))
            (tile("alarms-open", "Open alarms"))
        }
        h2 { "Station load" }
        table #station-load {
            thead { tr { th { "Station" } th { "Piles online" } th { "Measured" } th { "Limit" } th { "Load" } } }
            tbody {}
        }
    };
    page("overview", "Overview", None, main)
}

async fn stations() -> HttpResponse {
    let main = html! {
        h1 { "Stations" }
        (error_box())
        table #stations {
            thead { tr { th { "Id" } th { "Name" } th { "In service" } th { "Tariff" } } }
            tbody {}
        }
    };
    page("stations", "Stations", None, main)
}

async fn station(id: web::Path<i64>) -> HttpResponse {
    let id = id.to_string();
    let main = html! {
        h1 #station-name { "Station " (id) " " span #live.live { "connecting" } }
        (error_box())
        p #station-power.muted {}
        div #station-actions {}
        form #fees-form.card.inline.needs-manager {
            label { "Name " input name="name" required; }
            label { "Service fee, yuan " input name="service_fee" inputmode="decimal" size="7" required; }
            label { "Minimum charge, yuan " input name="minimum_charge" inputmode="decimal" size="7" required; }
            button type="submit" { "Save" }
            span #fees-saved.notice hidden { "Saved." }
        }
        h2 { "Power, last six hours" }
        div #power-chart.chart { p.muted { "No samples yet." } }
        div #piles {}
    };
    page("station", "Station", Some(&id), main)
}

async fn sessions() -> HttpResponse {
    let main = html! {
        h1 { "Sessions" }
        (error_box())
        form #session-find.inline {
            label { "Session id " input name="id" required; }
            button type="submit" { "Open" }
        }
        form #session-filter.inline.card {
            label { "Station " input name="station" inputmode="numeric" size="5"; }
            label { "Pile " input name="pile" size="14"; }
            label { "Driver " input name="driver" inputmode="numeric" size="5"; }
            label { "State " select name="status" {
                option value="" { "any" }
                option value="starting" { "starting" }
                option value="charging" { "charging" }
                option value="stopping" { "stopping" }
                option value="finished" { "finished" }
                option value="failed" { "failed" }
            } }
            label { "From " input name="from" type="date"; }
            label { "Until " input name="until" type="date"; }
            button type="submit" { "Filter" }
        }
        table #sessions {
            thead { tr { th { "Session" } th { "Created" } th { "Station" } th { "Pile / port" } th { "State" } th { "Energy" } } }
            tbody {}
        }
        button #sessions-more.secondary type="button" hidden { "Older sessions" }
        h2 { "Charging now" }
        table #open-sessions {
            thead { tr { th { "Session" } th { "Station" } th { "Pile" } th { "Port" } th { "Power" } } }
            tbody {}
        }
    };
    page("sessions", "Sessions", None, main)
}

async fn session(id: web::Path<String>) -> HttpResponse {
    let main = html! {
        h1 { "Session " span #session-id { (id.as_str()) } }
        (error_box())
        dl #session-facts.facts {}
        div.needs-manager #session-actions {}
        h2 { "Meter" }
        div #meter-chart.chart { p.muted { "No readings yet." } }
        h2 { "Bill" }
        div #bill { p.muted { "Not billed yet." } }
        h2 { "Ledger entries" }
        table #entries {
            thead { tr { th { "Booked" } th { "Kind" } th { "Lines" } } }
            tbody {}
        }
    };
    page("session", "Session", Some(&id), main)
}

async fn alarms() -> HttpResponse {
    let main = html! {
        h1 { "Alarms" }
        (error_box())
        form #alarm-filter.inline {
            label { input type="checkbox" name="open" checked; " open only" }
            label { "Station " input name="station_id" inputmode="numeric" size="6"; }
            button type="submit" { "Filter" }
        }
        table #alarms {
            thead { tr { th { "Id" } th { "Raised" } th { "Pile" } th { "Kind" } th { "Severity" } th { "State" } th {} } }
            tbody {}
        }
    };
    page("alarms", "Alarms", None, main)
}

async fn prices() -> HttpResponse {
    let period = |name: &str| {
        html! {
            tr {
                th { (name) }
                td { input name={ (name) "-energy" } inputmode="decimal" value="0"; }
                td { input name={ (name) "-service" } inputmode="decimal" value="0"; }
            }
        }
    };
    let main = html! {
        h1 { "Prices" }
        (error_box())
        h2 { "Tariffs" }
        p.muted { "Each day strip shows the 48 half-hours of a day in their time-of-use period." }
        div #tariffs {}
        form #tariff-form.card.needs-manager {
            h3 #tariff-form-title { "New tariff" }
            input type="hidden" name="id";
            label { "Name" input name="name" required; }
            table {
                thead { tr { th { "Period" } th { "Energy, yuan/kWh" } th { "Service, yuan/kWh" } } }
                tbody { (period("sharp")) (period("peak")) (period("flat")) (period("valley")) }
            }
            p.muted { "Paint the day: pick a period, then click or drag over the half-hours." }
            div.inline {
                label { "Paint " select #paint {
                    option value="sharp" { "sharp" } option value="peak" { "peak" }
                    option value="flat" selected { "flat" } option value="valley" { "valley" }
                } }
            }
            div #tariff-strip.strip.editable {}
            label { "Periods, one a line: from-to period" textarea name="periods" rows="4" { "00:00-24:00 flat" } }
            button type="submit" { "Save tariff" }
            " "
            button #tariff-new.secondary type="button" { "New" }
        }
        h2 { "E-bike price plans" }
        table #plans {
            thead { tr { th { "Id" } th { "Name" } th { "Pricing" } th { "In service" } th {} } }
            tbody {}
        }
        form #plan-form.card.needs-manager {
            h3 #plan-form-title { "New plan" }
            input type="hidden" name="id";
            label { "Name" input name="name" required; }
            label { "Kind" select name="kind" { option value="time" { "per time" } option value="energy" { "per kWh" } } }
            label { "Price (yuan per hour, or per kWh)" input name="price" inputmode="decimal" required; }
            label { "Billed per started ... minutes (per time)" input name="unit_minutes" inputmode="numeric" value="15"; }
            button type="submit" { "Save plan" }
            " "
            button #plan-new.secondary type="button" { "New" }
        }
        h2 { "Class rules" }
        p.muted { "A class of drivers (set on the driver) gets a discount, a contract tariff, or is the only class let in." }
        table #rules {
            thead { tr { th { "Id" } th { "Name" } th { "Class" } th { "Station" } th { "Rule" } th {} } }
            tbody {}
        }
        form #rule-form.card.needs-manager {
            h3 #rule-form-title { "New rule" }
            input type="hidden" name="id";
            label { "Name" input name="name" required; }
            label { "Class" input name="class" required; }
            label { "Station id (empty: every station)" input name="station_id" inputmode="numeric"; }
            label { "Kind" select name="kind" {
                option value="discount" { "discount, percent off" }
                option value="tariff" { "contract tariff" }
                option value="allow" { "only this class may charge" }
            } }
            label { "Percent off, or tariff id" input name="value" inputmode="decimal"; }
            button type="submit" { "Save rule" }
        }
    };
    page("prices", "Prices", None, main)
}

async fn reports() -> HttpResponse {
    let main = html! {
        h1 { "Reports" }
        (error_box())
        form #report-form.inline {
            label { "Report " select name="kind" {
                option value="operations" { "operations" }
                option value="energy" { "energy by period" }
                option value="faults" { "faults" }
            } }
            label { "From " input name="from" type="date" required; }
            label { "Until " input name="until" type="date" required; }
            label { "Station " input name="station_id" inputmode="numeric" size="6"; }
            button type="submit" { "Show" }
            button #report-csv.secondary type="button" { "Download CSV" }
        }
        a #csv-link hidden {}
        div #report-chart.chart {}
        table #report { thead {} tbody {} }
        h2 { "Merchant's daily statement" }
        form #statement-form.inline {
            label { "Merchant " input name="merchant_id" inputmode="numeric" size="6" required; }
            label { "Day " input name="day" type="date" required; }
            button type="submit" { "Show" }
        }
        dl #statement.facts {}
    };
    page("reports", "Reports", None, main)
}

async fn users() -> HttpResponse {
    let main = html! {
        h1 { "Users" }
        (error_box())
        table #users {
            thead { tr { th { "Id" } th { "User name" } th { "Role" } th { "Operator" } th { "Merchant" } } }
            tbody {}
        }
        form #user-form.card.needs-manager {
            h3 { "New user" }
            label { "User name" input name="username" required autocomplete="off"; }
            label { "Password (at least 10 characters)" input name="password" type="password" required autocomplete="new-password"; }
            label { "Role" select name="role" {
                option value="staff" { "staff: reads" }
                option value="manager" { "manager: changes things" }
                option value="merchant" { "merchant: its own stations and statements" }
            } }
            label.needs-admin { "Operator id (admin: empty for operator 1)" input name="operator_id" inputmode="numeric"; }
            label { "Merchant id (merchant users)" input name="merchant_id" inputmode="numeric"; }
            button type="submit" { "Create user" }
        }
        h2 { "Merchants" }
        table #merchants {
            thead { tr { th { "Id" } th { "Name" } th { "Commission" } th { "In service" } th {} } }
            tbody {}
        }
        form #merchant-form.card.inline.needs-manager {
            input type="hidden" name="id";
            label { "Name " input name="name" required; }
            label { "Commission, percent " input name="commission_percent" inputmode="decimal" size="6" required; }
            button type="submit" { "Save merchant" }
        }
        h2 { "Operators" }
        table #operators {
            thead { tr { th { "Id" } th { "Name" } th { "Status" } th {} } }
            tbody {}
        }
        form #operator-form.card.inline.needs-admin {
            label { "New operator " input name="name" required; }
            button type="submit" { "Create operator" }
        }
    };
    page("users", "Users", None, main)
}
