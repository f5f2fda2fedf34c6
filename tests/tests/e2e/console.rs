//! The console and the drivers' app in a real browser: Debian's chromium
//! driven over WebDriver (chromedriver) against a server started here, with
//! a simulated pile. Where chromedriver is not installed the browser tests
//! print a notice and skip (`.ci/run` installs it). With
//! `CHARGEPLANE_SCREENSHOTS=1`, screenshots of the main pages are written to
//! `docs/screenshots/` (the README shows them); otherwise a test run leaves
//! the tree as it found it.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Server, YkcMessages};
use fantoccini::{Client, ClientBuilder, Locator};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use proto::ykc::{self, Message};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

/// chromium under chromedriver, ended when dropped.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A headless chromium `width` pixels wide, or `None` (with a notice) where
/// there is none to start.
async fn browser(width: u32) -> Option<Browser> {
    let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromedriver) = chromedriver else {
        eprintln!("note: browser tests skip: chromedriver is not installed (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        format!("--window-size={},900", width.max(500)), "--no-first-run", "--no-default-browser-check"]});
    if width < 500 {
        // A window is at least 500 px wide: a phone's screen is emulated.
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": width, "height": 812, "pixelRatio": 1}});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let mut last = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Some(Browser { client, driver }),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver is installed but no browser session starts: {last:?}");
}

/// What each browser test opens with: a browser `width` pixels wide, and a
/// server set up by `tweak` with a station holding pile `pile` of `ports`
/// ports (not connected); `None` where there is no browser.
struct Scene {
    b: Browser,
    server: Server,
    base: String,
    station: i64,
}

async fn scene(
    width: u32,
    pile: &str,
    ports: u8,
    tweak: impl FnOnce(&mut api::ServeConfig),
) -> Option<Scene> {
    let b = browser(width).await?;
    let server = Server::start_with(tweak);
    let base = server.base.clone();
    let station = server.station_with_pile(pile, ports).await;
    Some(Scene { b, server, base, station })
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector} never appeared: {e}"))
}

/// Waits until the element's text satisfies `pred`; returns it.
async fn text_until(c: &Client, selector: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(e) = c.find(Locator::Css(selector)).await {
            if let Ok(t) = e.text().await {
                if pred(&t) {
                    return t;
                }
            }
        }
        if std::time::Instant::now() > deadline {
            let now = match c.find(Locator::Css(selector)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => "<absent>".into(),
            };
            let error = c.find(Locator::Css(".error")).await.ok();
            let error = match error {
                Some(e) => e.text().await.unwrap_or_default(),
                None => String::new(),
            };
            panic!("{selector} never matched; it says {now:?}; the page's error: {error:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element, finding it again if the page re-rendered it or
/// waiting while it is not yet shown.
async fn click(c: &Client, selector: &str) {
    for _ in 0..20 {
        match css(c, selector).await.click().await {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if matches!(
                    e.error,
                    fantoccini::error::ErrorStatus::StaleElementReference
                        | fantoccini::error::ErrorStatus::ElementNotInteractable
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("{selector}: {e}"),
        }
    }
    panic!("{selector} kept being replaced");
}

/// Types `value` into the field, once the page shows it.
async fn fill(c: &Client, selector: &str, value: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let e = css(c, selector).await;
        let typed = match e.clear().await {
            Ok(()) => e.send_keys(value).await,
            Err(e) => Err(e),
        };
        match typed {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() > deadline => panic!("{selector}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    if std::env::var_os("CHARGEPLANE_SCREENSHOTS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Everything the page loaded came from `base`.
async fn loaded_only_from(c: &Client, base: &str) {
    let names =
        c.execute("return performance.getEntriesByType('resource').map(e => e.name)", vec![]).await.unwrap();
    for name in names.as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert!(name.starts_with(base), "the page loaded {name} from another host");
    }
}

/// A request the page does not offer, sent from the page with the signed-in
/// user's token: `[status, error]` of the answer.
async fn forge(c: &Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let script = "const [method, path, body, done] = arguments;
        const t = JSON.parse(sessionStorage.getItem('chargeplane.user')).token;
        const headers = {authorization: 'Bearer ' + t};
        if (body !== null) headers['content-type'] = 'application/json';
        fetch(path, {method, headers, body: body === null ? undefined : JSON.stringify(body)})
          .then(r => r.json().then(b => done([r.status, b.error])))";
    let args = vec![json!(method), json!(path), body.unwrap_or(Value::Null)];
    c.execute_async(script, args).await.unwrap()
}

async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/console/login")).await.unwrap();
    fill(c, "#login-form [name=username]", user).await;
    fill(c, "#login-form [name=password]", password).await;
    click(c, "#login-form button").await;
    text_until(c, "#who", |t| t.starts_with(user)).await;
}

fn pile_config(id: &str, guns: u8) -> PileConfig {
    let mut cfg = PileConfig::new(vocab::PileId(id.into()), guns);
    cfg.realtime = Duration::from_secs(3600);
    cfg.heartbeat = Duration::from_millis(500);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_pile_come_online_starts_a_charge_stops_it_and_reads_the_bill() {
    let id = "71000000000001";
    let Some(Scene { b, server, base, station }) =
        scene(1280, id, 2, |c| c.station_power_sample_ms = 100).await
    else {
        return;
    };
    let c = &b.client;

    sign_in(c, &base, "admin", common::ADMIN_PASSWORD).await;
    text_until(c, "#piles-offline", |t| t == "1").await;
    loaded_only_from(c, &base).await;

    c.goto(&format!("{base}/console/stations/{station}")).await.unwrap();
    css(c, &format!("[data-pile='{id}'] [data-online='false']")).await;
    text_until(c, "#live", |t| t == "live").await;

    // The pile connects: the page shows it without being reloaded.
    c.execute("window.notReloaded = true", vec![]).await.unwrap();
    let mut pile = SimPile::connect(server.pile_addr, pile_config(id, 2)).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.expect("the pile logs in");
    css(c, &format!("[data-pile='{id}'] [data-online='true']")).await;
    assert_eq!(c.execute("return window.notReloaded === true", vec![]).await.unwrap(), json!(true));
    screenshot(c, "console-station").await;

    // Start port 1 from the page.
    click(c, &format!("[data-port='{id}/1'] button.start")).await;
    let link = css(c, &format!("[data-port='{id}/1'] .note a")).await;
    let session = link.text().await.unwrap().trim_start_matches("started ").to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT)
        .await
        .expect("a start");
    text_until(c, &format!("[data-port='{id}/1'] .status"), |t| t == "charging").await;
    // The station's power chart, redrawn as the station's page refreshes.
    let samples =
        |n: usize| move |t: &str| t.split(' ').next().and_then(|n| n.parse::<usize>().ok()) >= Some(n);
    let drawn = text_until(c, "#power-chart desc", samples(1)).await;
    css(c, "#power-chart svg polyline.measured").await;
    css(c, "#power-chart svg polyline.allocated").await;
    let drawn: usize = drawn.split(' ').next().unwrap().parse().unwrap();
    pile.set_energy(1, Decimal::new(1, 1));
    pile.send_realtime(1);
    text_until(c, "#power-chart desc", samples(drawn + 1)).await;

    c.goto(&format!("{base}/console/")).await.unwrap();
    text_until(c, "#ports-charging", |t| t == "1").await;
    text_until(c, "#piles-online", |t| t == "1").await;
    screenshot(c, "console-overview").await;

    // Its session page draws the meter as it moves.
    c.goto(&format!("{base}/console/sessions/{session}")).await.unwrap();
    let readings =
        |n: usize| move |t: &str| t.split(' ').next().and_then(|n| n.parse::<usize>().ok()) >= Some(n);
    for kwh in 1..=3 {
        pile.set_energy(1, Decimal::from(kwh));
        pile.send_realtime(1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let before = text_until(c, "#meter-chart desc", readings(1)).await;
    let before: usize = before.split(' ').next().unwrap().parse().unwrap();
    pile.set_energy(1, Decimal::from(4));
    pile.send_realtime(1);
    text_until(c, "#meter-chart desc", readings(before + 1)).await;
    css(c, "#meter-chart svg polyline.power").await;

    click(c, "#session-actions button.stop").await;
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT)
        .await
        .expect("the pile's record is billed");
    text_until(c, "#session-state", |t| t == "finished").await;
    let total = text_until(c, "#bill-total", |t| t.starts_with('¥')).await;
    let (_, api) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(total, format!("¥{}", api["total"].as_str().unwrap()), "{api}");
    screenshot(c, "console-session").await;

    // Maintenance from the station's page: a command and its outcome, and a
    // port taken out of service.
    c.goto(&format!("{base}/console/stations/{station}")).await.unwrap();
    click(c, &format!("[data-pile='{id}'] .command-form button")).await;
    let ev = pile.wait_for(|e| matches!(common::ykc_msg(e), Some(Message::TimeSync(_))), WAIT).await;
    let Some(Message::TimeSync(asked)) = ev.as_ref().and_then(common::ykc_msg) else {
        panic!("no time sync: {ev:?}")
    };
    pile.send_msg(Message::TimeSyncResult(ykc::TimeSyncResult { pile: asked.pile, time: asked.time }));
    text_until(c, &format!("[data-pile='{id}'] .commands li .outcome"), |t| t == "acknowledged").await;
    click(c, &format!("[data-port='{id}/2'] button.service")).await;
    css(c, &format!("[data-port='{id}/2'] .out")).await;
    let (_, listed) = server.get(&format!("/api/v1/piles/{id}")).await;
    assert_eq!(listed["ports_out_of_service"], json!([2]), "{listed}");

    c.goto(&format!("{base}/console/alarms")).await.unwrap();
    css(c, "#alarms tbody tr").await;
    screenshot(c, "console-alarms").await;
    loaded_only_from(c, &base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_no_controls_that_change_things_and_a_forged_change_is_refused() {
    let id = "71000000000002";
    let Some(Scene { b, server, base, station }) = scene(1280, id, 1, |_| {}).await else { return };
    let c = &b.client;
    let (s, u) = server
        .post("/api/v1/users", json!({"username": "watcher", "password": "a long password", "role": "staff"}))
        .await;
    assert_eq!(s, 201, "{u}");
    let _pile = server.ykc_pile(id, 1).await;

    sign_in(c, &base, "watcher", "a long password").await;
    c.goto(&format!("{base}/console/stations/{station}")).await.unwrap();
    let start = css(c, &format!("[data-port='{id}/1'] button.start")).await;
    assert!(!start.is_displayed().await.unwrap(), "staff are shown a start button");

    // The API refuses what the page does not offer.
    let forged = forge(c, "POST", &format!("/api/v1/piles/{id}/ports/1/start"), None).await;
    assert_eq!(forged, json!([403, "forbidden"]));
    let (_, pile) = server.get(&format!("/api/v1/piles/{id}")).await;
    assert_eq!(pile["ports"][0]["session_id"], Value::Null, "{pile}");
    // Nor an edit: the fees form is not offered, and a forged one is refused.
    assert!(!css(c, "#fees-form").await.is_displayed().await.unwrap(), "staff are offered to edit fees");
    let fee = json!({"service_fee": "9"});
    let forged = forge(c, "PATCH", &format!("/api/v1/stations/{station}"), Some(fee)).await;
    assert_eq!(forged, json!([403, "forbidden"]));
    let (_, st) = server.get(&format!("/api/v1/stations/{station}")).await;
    assert_ne!(st["service_fee"].as_str(), Some("9"), "{st}");

    // Staff read the users, and are offered no form to add one.
    c.goto(&format!("{base}/console/users")).await.unwrap();
    text_until(c, "#users tbody", |t| t.contains("watcher")).await;
    assert!(!css(c, "#user-form").await.is_displayed().await.unwrap(), "staff are offered to add users");

    // Signing out revokes the token: the console asks to sign in again,
    // and the API refuses the token.
    let token = c
        .execute("return JSON.parse(sessionStorage.getItem('chargeplane.user')).token", vec![])
        .await
        .unwrap();
    click(c, "#signout").await;
    css(c, "#login-form").await;
    let (s, _) = server.get_as(token.as_str().unwrap(), "/api/v1/stations").await;
    assert_eq!(s, 401, "the signed-out token still works");
    c.goto(&format!("{base}/console/")).await.unwrap();
    css(c, "#login-form").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_scans_a_port_tops_up_starts_watches_the_cost_and_finds_the_bill() {
    let (hook, codes) = common::webhook();
    let id = "71000000000003";
    let Some(Scene { b, server, base, station }) = scene(375, id, 2, |c| c.notify_webhook = Some(hook)).await
    else {
        return;
    };
    let c = &b.client;
    on_the_quay(&server, station, "1 Quay St").await;
    let mut pile = server.ykc_pile(id, 2).await;

    // The phone's camera opens the URL in the port's QR code.
    let res = server
        .http
        .get(format!("{base}/api/v1/piles/{id}/ports/2/qr.svg"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let qr_url = res.headers()["x-qr-url"].to_str().unwrap().to_owned();
    c.goto(&qr_url).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with(&format!("/app/q/{id}-02")));
    text_until(c, "#port-status", |t| t == "idle").await;
    click(c, "main a[href^='/app/login']").await;

    // Sign in by the code sent to the phone.
    fill(c, "#code-form [name=phone]", "13900000201").await;
    click(c, "#code-form button").await;
    let sms = codes.recv_timeout(WAIT).expect("a code");
    fill(c, "#signin-form [name=code]", sms["code"].as_str().unwrap()).await;
    click(c, "#signin-form button").await;
    css(c, "#start-form:not([hidden])").await;
    screenshot(c, "app-port").await;

    // Stations near a typed place, with their ports.
    c.goto(&format!("{base}/app/")).await.unwrap();
    fill(c, "#near-form [name=lat]", "31.2310").await;
    fill(c, "#near-form [name=lon]", "121.4740").await;
    click(c, "#near-form button[type=submit]").await;
    click(c, &format!("#near [data-station='{station}'] button")).await;
    css(c, &format!("#near a[href='/app/q/{id}-02']")).await;
    assert!(c.find(Locator::Css("#map")).await.is_err(), "a map with no tile server configured");
    screenshot(c, "app-home").await;

    // Top up through the sandbox.
    c.goto(&format!("{base}/app/wallet")).await.unwrap();
    text_until(c, "#balance", |t| t == "¥0.00").await;
    fill(c, "#topup-form [name=amount]", "30.00").await;
    click(c, "#topup-form button").await;
    click(c, "#sandbox-pay").await;
    text_until(c, "#balance", |t| t == "¥30.00").await;
    fill(c, "#card-form [name=number]", "a1b2c3d4").await;
    click(c, "#card-form button[type=submit]").await;
    text_until(c, "#cards", |t| t.contains("A1B2C3D4")).await;
    screenshot(c, "app-wallet").await;

    // Start on the scanned port with 20 yuan prepaid; watch the cost rise.
    c.goto(&qr_url).await.unwrap();
    fill(c, "#start-form [name=prepaid]", "20").await;
    click(c, "#start-form button").await;
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT)
        .await
        .expect("a start");
    text_until(c, "#live", |t| t == "live").await;
    pile.set_energy(2, Decimal::from(1));
    pile.send_realtime(2);
    text_until(c, "#c-amount", |t| t == "¥1.50").await;
    pile.set_energy(2, Decimal::from(2));
    pile.send_realtime(2);
    text_until(c, "#c-amount", |t| t == "¥3.00").await;
    screenshot(c, "app-charge").await;

    // The driver stops it from the page; the bill follows.
    click(c, "#stop-charge").await;
    pile.wait_for(|e| matches!(e, Event::StopRequested { gun: 2 }), WAIT).await.expect("the pile is told");
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.expect("billed");
    text_until(c, "#bill-total", |t| t == "¥3.00").await;
    c.goto(&format!("{base}/app/charges")).await.unwrap();
    text_until(c, "#history li .muted", |t| t.contains("¥3.00")).await;
    screenshot(c, "app-history").await;
    loaded_only_from(c, &base).await;

    // Signing out ends the token on the server, not only in this tab.
    let token = c
        .execute("return JSON.parse(sessionStorage.getItem('chargeplane.driver')).token", vec![])
        .await
        .unwrap();
    click(c, "#signout").await;
    css(c, "#code-form").await;
    let (s, _) = server.get_as(token.as_str().unwrap(), "/api/v1/me").await;
    assert_eq!(s, 401, "the signed-out token still works");
}

/// Every page and what it links to names no other host, and pages carry
/// the policy that forbids loading from one; /docs renders without script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_or_asset_names_another_host_and_docs_work_offline() {
    let server = Server::start();
    let base = server.base.clone();
    let pages = [
        "/console/",
        "/console/login",
        "/console/stations",
        "/console/stations/1",
        "/console/sessions",
        "/console/sessions/x",
        "/console/alarms",
        "/console/prices",
        "/console/reports",
        "/console/users",
        "/app/",
        "/app/login",
        "/app/wallet",
        "/app/q/x-01",
        "/app/charges",
        "/app/charges/x",
        "/docs",
    ];
    let mut assets = std::collections::BTreeSet::new();
    for page in pages {
        let res = server.http.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{page}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{page}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{page}: {csp}");
        assert!(!csp.contains("http"), "{page}: {csp}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script>") && !html.contains(" style="), "{page} has inline script or style");
        no_other_host(&base, page, &html);
        for attr in ["src=\"", "href=\""] {
            for link in html.split(attr).skip(1).filter_map(|s| s.split('"').next()) {
                assert!(!link.starts_with("//"), "{page} links to {link}");
                if link.starts_with("/assets/") {
                    assets.insert(link.replace("&amp;", "&"));
                }
            }
        }
    }
    assert_eq!(assets.len(), 2, "one stylesheet and one script: {assets:?}");
    for asset in assets {
        let res = server.http.get(format!("{base}{asset}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = if asset.contains(".css") { "text/css" } else { "text/javascript" };
        assert!(kind.starts_with(expected), "{asset}: {kind}");
        assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"), "{asset}");
        no_other_host(&base, &asset, &res.text().await.unwrap());
    }

    // The reference lists every documented route, with no script to run.
    let doc: Value =
        server.http.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    let docs = server.http.get(format!("{base}/docs")).send().await.unwrap().text().await.unwrap();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(docs.contains(&format!("<code class=\"path\">{path}</code>")), "/docs leaves out {path}");
    }

    // And in a browser: the page renders and loads nothing from elsewhere.
    let Some(b) = browser(1280).await else { return };
    let c = &b.client;
    c.goto(&format!("{base}/docs")).await.unwrap();
    click(c, "details#users_login summary").await;
    text_until(c, "details#users_login", |t| t.contains("/api/v1/auth/login")).await;
    loaded_only_from(c, &base).await;
    screenshot(c, "docs").await;
}

fn no_other_host(base: &str, what: &str, text: &str) {
    for scheme in ["http://", "https://"] {
        for (at, _) in text.match_indices(scheme) {
            assert!(
                text[at..].starts_with(base),
                "{what} names another host: {}",
                &text[at..(at + 60).min(text.len())]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_edits_a_tariff_and_a_plan_and_reads_a_report_with_its_csv() {
    let id = "71000000000004";
    let Some(Scene { b, server, base, station }) = scene(1280, id, 1, |_| {}).await else { return };
    let c = &b.client;
    // One charge today, for the report: 2 kWh at 1.50.
    let mut pile = server.ykc_pile(id, 1).await;
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT)
        .await
        .expect("a start");
    pile.set_energy(1, Decimal::from(2));
    pile.send_realtime(1);
    server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.expect("billed");

    sign_in(c, &base, "admin", common::ADMIN_PASSWORD).await;
    c.goto(&format!("{base}/console/prices")).await.unwrap();
    css(c, "[data-tariff='1'] .strip .slot.flat").await;
    assert_eq!(c.find_all(Locator::Css("[data-tariff='1'] .strip .slot.flat")).await.unwrap().len(), 48);

    // Valley prices before 08:00.
    click(c, "[data-tariff='1'] button.edit").await;
    fill(c, "#tariff-form [name=valley-energy]", "0.3").await;
    fill(c, "#tariff-form [name=valley-service]", "0.4").await;
    fill(c, "#tariff-form [name=periods]", "00:00-08:00 valley\n08:00-24:00 flat").await;
    click(c, "#tariff-form button[type=submit]").await;
    css(c, "[data-tariff='1'] .strip .slot.valley").await;
    assert_eq!(c.find_all(Locator::Css("[data-tariff='1'] .strip .slot.valley")).await.unwrap().len(), 16);
    let (_, t) = server.get("/api/v1/tariffs/1").await;
    assert_eq!(
        (t["prices"]["valley"]["energy"].as_str(), t["periods"].as_array().unwrap().len()),
        (Some("0.3"), 2),
        "{t}"
    );

    // Painting the day strip: two half-hours from 18:00 become peak.
    click(c, "[data-tariff='1'] button.edit").await;
    c.find(Locator::Css("#paint")).await.unwrap().select_by_value("peak").await.unwrap();
    click(c, "#tariff-strip [data-slot='36']").await;
    click(c, "#tariff-strip [data-slot='37']").await;
    let periods =
        css(c, "#tariff-form [name=periods]").await.prop("value").await.unwrap().unwrap_or_default();
    assert!(periods.contains("18:00-19:00 peak"), "{periods}");
    click(c, "#tariff-form button[type=submit]").await;
    css(c, "[data-tariff='1'] .strip .slot.peak").await;
    assert_eq!(c.find_all(Locator::Css("[data-tariff='1'] .strip .slot.peak")).await.unwrap().len(), 2);
    let (_, t) = server.get("/api/v1/tariffs/1").await;
    assert!(
        t["periods"].as_array().unwrap().contains(&json!({"from": "18:00", "to": "19:00", "period": "peak"})),
        "{t}"
    );

    // A period that does not read is named, and nothing is sent.
    fill(c, "#tariff-form [name=name]", "night").await;
    fill(c, "#tariff-form [name=periods]", "from eight to noon").await;
    click(c, "#tariff-form button[type=submit]").await;
    text_until(c, ".error", |t| t.contains("not \"from-to period\"") && t.contains("(periods)")).await;
    screenshot(c, "console-prices").await;

    fill(c, "#plan-form [name=name]", "quarter hours").await;
    fill(c, "#plan-form [name=price]", "1.20").await;
    click(c, "#plan-form button[type=submit]").await;
    text_until(c, "#plans tbody", |t| t.contains("quarter hours") && t.contains("1.20/h per 15 min")).await;
    click(c, "#plans tbody tr:last-child button.edit").await;
    fill(c, "#plan-form [name=price]", "1.50").await;
    click(c, "#plan-form button[type=submit]").await;
    text_until(c, "#plans tbody", |t| t.contains("1.50/h per 15 min") && !t.contains("1.20/h")).await;

    // A class rule: the staff class pays 20% less.
    fill(c, "#rule-form [name=name]", "staff rate").await;
    fill(c, "#rule-form [name=class]", "staff").await;
    fill(c, "#rule-form [name=value]", "20").await;
    click(c, "#rule-form button[type=submit]").await;
    text_until(c, "#rules tbody", |t| t.contains("staff rate") && t.contains("20% off")).await;
    click(c, "#rules tbody tr button.edit").await;
    fill(c, "#rule-form [name=value]", "25").await;
    click(c, "#rule-form button[type=submit]").await;
    text_until(c, "#rules tbody", |t| t.contains("staff rate") && t.contains("25% off")).await;
    let (_, rules) = server.get("/api/v1/rules").await;
    assert_eq!(
        (
            rules["items"].as_array().unwrap().len(),
            rules["items"][0]["kind"].as_str(),
            rules["items"][0]["percent"].as_str()
        ),
        (1, Some("discount"), Some("25")),
        "{rules}"
    );

    // The station's fees, from its page.
    c.goto(&format!("{base}/console/stations/{station}")).await.unwrap();
    text_until(c, "#station-name", |t| t.starts_with('S')).await;
    fill(c, "#fees-form [name=service_fee]", "0.80").await;
    fill(c, "#fees-form [name=minimum_charge]", "1.00").await;
    click(c, "#fees-form button[type=submit]").await;
    css(c, "#fees-saved:not([hidden])").await;
    let (_, st) = server.get(&format!("/api/v1/stations/{station}")).await;
    assert_eq!(
        (st["service_fee"].as_str(), st["minimum_charge"].as_str()),
        (Some("0.80"), Some("1.00")),
        "{st}"
    );

    // Today's operations, as a table, a chart and the CSV download.
    let today = chrono::Local::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    c.goto(&format!("{base}/console/reports")).await.unwrap();
    text_until(c, "#report tbody", |t| t.contains("3.00")).await;
    css(c, "#report-chart svg rect.bar").await;
    click(c, "#report-csv").await;
    let link = css(c, "#csv-link:not([hidden])").await;
    assert!(link.attr("href").await.unwrap().unwrap().starts_with("blob:"));
    // The page counts the rows of the file it hands over; the file is the API's.
    let name = text_until(c, "#csv-link", |t| t.ends_with("1 row")).await;
    assert!(name.ends_with(".csv · 1 row"), "{name}");
    let csv = server
        .http
        .get(format!("{base}/api/v1/reports/operations?from={today}&until={tomorrow}&format=csv"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("station_id,day,") && csv.contains(&format!("{station},")), "{csv}");
    screenshot(c, "console-reports").await;

    // The admin adds a user from the console.
    c.goto(&format!("{base}/console/users")).await.unwrap();
    fill(c, "#user-form [name=username]", "nightshift").await;
    fill(c, "#user-form [name=password]", "a long password").await;
    click(c, "#user-form button[type=submit]").await;
    text_until(c, "#users tbody", |t| t.contains("nightshift")).await;
    common::login(&base, "nightshift", "a long password").await;

    // A merchant, added and then edited from the same page.
    fill(c, "#merchant-form [name=name]", "Mall").await;
    fill(c, "#merchant-form [name=commission_percent]", "5").await;
    click(c, "#merchant-form button[type=submit]").await;
    text_until(c, "#merchants tbody", |t| t.contains("Mall") && t.contains("5%")).await;
    click(c, "#merchants tbody tr button.edit").await;
    fill(c, "#merchant-form [name=commission_percent]", "7.5").await;
    click(c, "#merchant-form button[type=submit]").await;
    text_until(c, "#merchants tbody", |t| t.contains("7.5%")).await;
    let (_, m) = server.get("/api/v1/merchants").await;
    assert_eq!(
        (m["items"].as_array().unwrap().len(), m["items"][0]["commission_percent"].as_str()),
        (1, Some("7.5")),
        "{m}"
    );
    screenshot(c, "console-users").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_filters_sessions_and_reads_a_wallet_charges_ledger_entries() {
    let (hook, codes) = common::webhook();
    let id = "71000000000005";
    let Some(Scene { b, server, base, .. }) = scene(1280, id, 2, |c| c.notify_webhook = Some(hook)).await
    else {
        return;
    };
    let c = &b.client;
    let mut pile = server.ykc_pile(id, 2).await;
    // A driver's wallet charge (billed) and an operator's (charging).
    let (_, token) = server.driver(&codes, "13900000251", "20.00").await;
    let (s, paid) = server.post_as(&token, "/api/v1/me/charges", json!({"pile_id": id, "port": 1})).await;
    assert_eq!(s, 202, "{paid}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT)
        .await
        .expect("a start");
    pile.set_energy(1, Decimal::from(2));
    pile.send_realtime(1);
    server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.expect("billed");
    let (s, running) = server.post(&format!("/api/v1/piles/{id}/ports/2/start"), json!({})).await;
    assert_eq!(s, 202, "{running}");
    let (paid, running) = (paid["session_id"].as_str().unwrap(), running["session_id"].as_str().unwrap());

    sign_in(c, &base, "admin", common::ADMIN_PASSWORD).await;
    c.goto(&format!("{base}/console/sessions")).await.unwrap();
    css(c, &format!("#sessions tr[data-session='{paid}']")).await;
    css(c, &format!("#sessions tr[data-session='{running}']")).await;
    c.find(Locator::Css("#session-filter [name=status]"))
        .await
        .unwrap()
        .select_by_value("finished")
        .await
        .unwrap();
    click(c, "#session-filter button[type=submit]").await;
    text_until(c, "#sessions tbody", |t| t.contains(paid) && !t.contains(running)).await;
    screenshot(c, "console-sessions").await;

    click(c, &format!("#sessions tr[data-session='{paid}'] a")).await;
    text_until(c, "#session-state", |t| t == "finished").await;
    text_until(c, "#entries tbody", |t| t.contains("hold") && t.contains("capture")).await;
    let (_, bill) = server.get(&format!("/api/v1/sessions/{paid}/bill")).await;
    let total = bill["total"].as_str().unwrap().to_owned();
    let capture = css(c, "#entries tr[data-entry^='capture'] .lines").await.text().await.unwrap();
    assert!(
        capture.contains("wallet:")
            && capture.contains("revenue:operator")
            && capture.contains(&format!("¥{total}")),
        "{capture}"
    );
    loaded_only_from(c, &base).await;
}

/// With `map_tiles_url` set, the app's station list shows the stations on
/// tiles from that host, which the page's policy then allows (and only it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shows_a_map_only_from_the_configured_tile_server() {
    // Any HTTP server will do as the tile server: the webhook receiver
    // answers every request.
    let (hook, codes) = common::webhook();
    let tile_origin = hook.trim_end_matches("/hook").to_owned();
    let tiles = format!("{tile_origin}/tiles/{{z}}/{{x}}/{{y}}.png");
    let tweak = |c: &mut api::ServeConfig| {
        c.notify_webhook = Some(hook.clone());
        c.map_tiles_url = Some(tiles.clone());
    };
    let Some(Scene { b, server, base, station }) = scene(375, "71000000000006", 1, tweak).await else {
        return;
    };
    let c = &b.client;
    on_the_quay(&server, station, "2 Quay St").await;

    let res = server.http.get(format!("{base}/app/")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains(&format!("img-src 'self' data: {tile_origin};")), "{csp}");
    assert!(!csp.contains(&format!("connect-src 'self' {tile_origin}")), "tiles are images only: {csp}");
    let res = server.http.get(format!("{base}/console/")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(!csp.contains("http"), "other pages allow no other host: {csp}");

    let (_, token) = server.driver(&codes, "13900000261", "1.00").await;
    c.goto(&format!("{base}/app/login")).await.unwrap();
    c.execute(
        "sessionStorage.setItem('chargeplane.driver', JSON.stringify({token: arguments[0]}))",
        vec![json!(token)],
    )
    .await
    .unwrap();
    c.goto(&format!("{base}/app/")).await.unwrap();
    fill(c, "#near-form [name=lat]", "31.2310").await;
    fill(c, "#near-form [name=lon]", "121.4740").await;
    click(c, "#near-form button[type=submit]").await;
    css(c, &format!("#map:not([hidden]) .marker[data-station='{station}']")).await;
    let imgs = c.find_all(Locator::Css("#map img")).await.unwrap();
    assert!(!imgs.is_empty());
    for img in imgs {
        let src = img.attr("src").await.unwrap().unwrap();
        assert!(src.starts_with(&format!("{tile_origin}/tiles/")) && src.ends_with(".png"), "{src}");
    }
    // The browser fetched tiles from there, and from nowhere else but here.
    let names =
        c.execute("return performance.getEntriesByType('resource').map(e => e.name)", vec![]).await.unwrap();
    let names: Vec<&str> = names.as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with(&format!("{tile_origin}/tiles/"))), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with(&base) || n.starts_with(&tile_origin)), "{names:?}");
    c.execute("document.querySelector('#near-form').scrollIntoView()", vec![]).await.unwrap();
    screenshot(c, "app-map").await;
}

/// Gives `station` an address and a place on the map, as the app's
/// station list shows them.
async fn on_the_quay(server: &Server, station: i64, address: &str) {
    let details = json!({"address": address, "lat": "31.2304", "lon": "121.4737", "opening_hours": "24h", "photos": []});
    let res = server
        .http
        .put(format!("{}/api/v1/stations/{station}/details", server.base))
        .bearer_auth(&server.admin)
        .json(&details)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
