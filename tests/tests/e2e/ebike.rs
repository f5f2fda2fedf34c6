//! E-bike piles end to end over real sockets: a 10-port pile charges three
//! ports at once on three plans, and each bill is asserted to the cent; a
//! pile that loses power mid-charge finishes the same order once; a
//! malformed frame on one pile leaves another charging.
//!
//! The simulated piles run on simulated time in fixed ticks and bills follow
//! the pile's own charging timer, so every expected figure is exact however
//! the test is scheduled.

use crate::common;

use std::time::Duration;

use common::{dec, Server};
use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event, Profile, Script};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// One simulated hour per real second, in 30 s steps.
fn config(phys: u32) -> EbikeConfig {
    let mut cfg = EbikeConfig::new(phys);
    cfg.time_scale = 3600.0;
    cfg.tick = 30;
    cfg.report_every = 300;
    cfg.heartbeat = 180;
    cfg.settle_retry = 120;
    cfg
}

fn pile_id(phys: u32) -> String {
    format!("{phys:08X}")
}

/// A station with a 0.10 yuan service fee and three plans; returns the
/// station id and the (time, energy, tier) plan ids.
async fn setup(server: &Server) -> (i64, i64, i64, i64) {
    let (s, tariff) = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0"}},
                   "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
        )
        .await;
    assert_eq!(s, 201, "{tariff}");
    let (s, station) = server
        .post(
            "/api/v1/stations",
            json!({"name": "Compound 7", "tariff_id": tariff["id"], "service_fee": "0.10"}),
        )
        .await;
    assert_eq!(s, 201, "{station}");
    let plan = |body: Value| async move {
        let (s, p) = server.post("/api/v1/plans", body).await;
        assert_eq!(s, 201, "{p}");
        p["id"].as_i64().unwrap()
    };
    let time = plan(json!({"name": "per quarter hour",
        "pricing": {"kind": "time", "per_hour": "1.00", "unit_minutes": 15}}))
    .await;
    let energy = plan(json!({"name": "per kWh", "pricing": {"kind": "energy", "per_kwh": "1.20"}})).await;
    let tiers = plan(json!({"name": "by power", "pricing": {"kind": "power_tiers", "unit_minutes": 1, "switch_after_s": 120,
        "tiers": [{"up_to_w": "200", "per_hour": "0.50"}, {"up_to_w": "400", "per_hour": "0.80"},
                  {"up_to_w": "600", "per_hour": "1.20"}]}}))
    .await;
    (station["id"].as_i64().unwrap(), time, energy, tiers)
}

async fn register(server: &Server, phys: u32, station: i64) {
    let (s, p) = server
        .post(
            "/api/v1/piles",
            json!({"id": pile_id(phys), "station_id": station, "protocol": "dny", "ports": 10}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
}

async fn connect(server: &Server, cfg: EbikeConfig) -> EbikePile {
    let id = pile_id(cfg.phys);
    let mut pile = EbikePile::connect(server.pile_addr, cfg).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::Registered { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::Registered { accepted: true })), "{ev:?}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    pile
}

async fn start(server: &Server, phys: u32, port: u8, body: Value) -> String {
    let (s, v) = server.post(&format!("/api/v1/piles/{}/ports/{port}/start", pile_id(phys)), body).await;
    assert_eq!(s, 202, "{v}");
    v["session_id"].as_str().unwrap().to_owned()
}

async fn bill(server: &Server, session: &str) -> Value {
    let done = server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    let (s, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(s, 200, "{bill}");
    json!({"session": done, "bill": bill})
}

/// Waits until the pile has plugged `port` and the platform shows it.
async fn plug(server: &Server, pile: &EbikePile, port: u8) {
    pile.plug(port, true);
    let id = pile_id(pile.phys());
    server
        .until(&format!("/api/v1/piles/{id}"), |v| v["ports"][port as usize - 1]["status"] == "plugged")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ports_on_three_plans_are_each_billed_to_the_cent() {
    let server = Server::start_with(|c| c.ebike_full_hold_s = 180);
    let (station, time, energy, tiers) = setup(&server).await;
    let phys = 0x05A1_B2C3;
    register(&server, phys, station).await;
    let mut pile = connect(&server, config(phys)).await;
    // At registration the pile is told what to stop a charge for on its own.
    let ev = pile.wait_for(|e| matches!(e, Event::LimitsSet(_)), WAIT).await;
    let Some(Event::LimitsSet(limits)) = ev else { panic!("no device limits: {ev:?}") };
    assert_eq!((limits.overload_power, limits.max_charge_s), (dec!(600), 36_000));
    assert!(limits.voltage.is_some(), "{limits:?}");

    // Port 1: bought 4 hours on the time plan; the battery is full after
    // 3000 s, detected 180 s later.
    pile.set_profile(1, Profile::Steps(vec![(0, dec!(150)), (3000, dec!(10))]));
    // Port 2: prepaid 5 yuan by energy, 200 W, unplugged at 5400 s.
    pile.set_profile(2, Profile::Constant(dec!(200)));
    pile.script(2, Script::UnplugAt(5400));
    // Port 3: by power tier, 150 W for half an hour then 350 W, unplugged at 3600 s.
    pile.set_profile(3, Profile::Steps(vec![(0, dec!(150)), (1800, dec!(350))]));
    pile.script(3, Script::UnplugAt(3600));
    for port in 1..=3 {
        plug(&server, &pile, port).await;
    }

    let s1 = start(&server, phys, 1, json!({"plan_id": time, "prepaid_hours": "4"})).await;
    let s2 = start(&server, phys, 2, json!({"plan_id": energy, "prepaid": "5.00"})).await;
    let s3 = start(&server, phys, 3, json!({"plan_id": tiers})).await;

    // Port 1. 4 h at 1.00/h is 4.00 prepaid. Full at 3180 s (±1 step):
    // 4 started quarter hours = 1 h = 1.00, + 0.10 fee = 1.10; refund 2.90.
    let b1 = bill(&server, &s1).await;
    assert_eq!(b1["session"]["stop_reason"]["code"], 1, "{b1}");
    assert_eq!(b1["session"]["stop_reason"]["text"], "full");
    let elapsed = b1["bill"]["seconds"].as_u64().unwrap();
    assert!((3180..=3240).contains(&elapsed), "full detected at {elapsed} s");
    let line = &b1["bill"]["lines"][0];
    assert_eq!((line["kind"].as_str(), line["billed_seconds"].as_u64()), (Some("time"), Some(3600)), "{b1}");
    assert_eq!(dec(&line["amount"]), dec!(1.00));
    assert_eq!(dec(&b1["bill"]["total"]), dec!(1.10));
    assert_eq!(dec(&b1["bill"]["prepaid"]), dec!(4.00));
    assert_eq!(dec(&b1["bill"]["refund"]), dec!(2.90));

    // Port 2. 200 W for 5400 s = 0.30 kWh × 1.20 = 0.36, + 0.10 = 0.46; of
    // 5.00 prepaid 4.54 comes back.
    let b2 = bill(&server, &s2).await;
    assert_eq!(b2["session"]["stop_reason"]["code"], 5, "{b2}");
    assert_eq!(b2["session"]["stop_reason"]["text"], "unplugged");
    assert_eq!(dec(&b2["bill"]["kwh"]), dec!(0.30), "{b2}");
    assert_eq!(dec(&b2["bill"]["lines"][0]["amount"]), dec!(0.36));
    assert_eq!(dec(&b2["bill"]["total"]), dec!(0.46));
    assert_eq!(dec(&b2["bill"]["refund"]), dec!(4.54));

    // Port 3. The 350 W report at 2100 s moves the tier (the window is
    // 120 s, reports come every 300 s): 2100 s at 0.50/h = 0.2917 and
    // 1500 s at 0.80/h = 0.3333; 0.6250 + 0.10 = 0.725 → 0.73.
    let b3 = bill(&server, &s3).await;
    assert_eq!(b3["session"]["stop_reason"]["code"], 5, "{b3}");
    let lines = b3["bill"]["lines"].as_array().unwrap();
    assert_eq!(lines[0]["kind"], "tier", "{b3}");
    assert_eq!((lines[0]["tier"].as_u64(), lines[0]["seconds"].as_u64()), (Some(1), Some(2100)), "{b3}");
    assert_eq!(dec(&lines[0]["amount"]), dec!(0.2917));
    assert_eq!((lines[1]["tier"].as_u64(), lines[1]["seconds"].as_u64()), (Some(2), Some(1500)), "{b3}");
    assert_eq!(dec(&lines[1]["amount"]), dec!(0.3333));
    assert_eq!(lines[2], json!({"kind": "service_fee", "amount": "0.10"}));
    assert_eq!(dec(&b3["bill"]["total"]), dec!(0.73));
    assert!(b3["bill"]["prepaid"].is_null());

    // Samples were stored for each, and live state shows the ports idle again.
    let (_, samples) = server.get(&format!("/api/v1/sessions/{s3}/samples")).await;
    assert!(samples.as_array().unwrap().len() >= 10, "{samples}");
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_mid_charge_completes_the_same_order_once() {
    let server = Server::start();
    let (station, time, _, _) = setup(&server).await;
    let phys = 0x05000001;
    register(&server, phys, station).await;
    let mut cfg = config(phys);
    cfg.time_scale = 1800.0; // half an hour a second: room to cut mid-charge
    let mut pile = connect(&server, cfg).await;
    pile.set_profile(4, Profile::Constant(dec!(180)));
    pile.script(4, Script::UnplugAt(2700));
    plug(&server, &pile, 4).await;
    let session = start(&server, phys, 4, json!({"plan_id": time, "prepaid": "3.00"})).await;
    pile.wait_for(|e| matches!(e, Event::Started { .. }), WAIT).await.unwrap();

    // The power goes: the link drops, the platform keeps the order open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    pile.power_cut();
    let id = pile_id(phys);
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == false).await;
    let (_, open) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(open["state"], "charging", "{open}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Power returns: the pile registers on a new connection and carries on.
    pile.restore();
    let ev = pile.wait_for(|e| matches!(e, Event::Registered { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::Registered { accepted: true })), "{ev:?}");
    // 2700 s of charging, the outage not counted: 3 quarter hours = 0.75,
    // + 0.10 = 0.85; 2.15 of 3.00 refunded.
    let b = bill(&server, &session).await;
    assert_eq!(b["bill"]["seconds"], 2700, "{b}");
    assert_eq!(dec(&b["bill"]["total"]), dec!(0.85));
    assert_eq!(dec(&b["bill"]["refund"]), dec!(2.15));
    pile.wait_for(|e| matches!(e, Event::SettlementAcked { .. }), WAIT).await.unwrap();
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_one_pile_and_others_keep_charging() {
    let server = Server::start();
    let (station, time, _, _) = setup(&server).await;
    let (good_phys, bad_phys) = (0x05000002, 0x05000003);
    register(&server, good_phys, station).await;
    register(&server, bad_phys, station).await;
    let good = connect(&server, config(good_phys)).await;
    let mut bad = connect(&server, config(bad_phys)).await;
    good.set_profile(1, Profile::Constant(dec!(100)));
    good.script(1, Script::UnplugAt(1800));
    plug(&server, &good, 1).await;
    let session = start(&server, good_phys, 1, json!({"plan_id": time})).await;

    // A frame whose length field is beyond the 256-byte limit.
    bad.send_raw(b"DNY\xff\xff\x03\x00\x00\x05\x01\x00\x21".to_vec());
    let ev = bad.wait_for(|e| matches!(e, Event::Closed), WAIT).await;
    assert!(matches!(ev, Some(Event::Closed)), "{ev:?}");
    assert_eq!(
        server.metric("chargeplane_links_closed_total{protocol=\"dny\",reason=\"bad_length\"}").await,
        1.0
    );

    // 1800 s on the time plan: 2 quarter hours = 0.50, + 0.10 = 0.60.
    let b = bill(&server, &session).await;
    assert_eq!(dec(&b["bill"]["total"]), dec!(0.60), "{b}");
    let (_, view) = server.get(&format!("/api/v1/piles/{}", pile_id(good_phys))).await;
    assert_eq!(view["online"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepaid_amount_that_only_pays_the_fee_is_refused_not_sent_as_no_limit() {
    let server = Server::start();
    let (station, time, energy, _) = setup(&server).await;
    let phys = 0x05000004;
    register(&server, phys, station).await;
    let mut pile = connect(&server, config(phys)).await;
    pile.set_profile(1, Profile::Constant(dec!(150)));
    plug(&server, &pile, 1).await;
    let path = format!("/api/v1/piles/{}/ports/1/start", pile_id(phys));

    // The fee is 0.10: at or below it nothing is bought, and 0.01 past it
    // buys 0.008 kWh, which is no whole hundredth.
    for body in [
        json!({"plan_id": time, "prepaid": "0.10"}),
        json!({"plan_id": time, "prepaid": "0.05"}),
        json!({"plan_id": energy, "prepaid": "0.11"}),
    ] {
        let (s, v) = server.post(&path, body.clone()).await;
        assert_eq!(
            (s, v["error"].as_str(), v["field"].as_str()),
            (422, Some("invalid"), Some("prepaid")),
            "{body}: {v}"
        );
    }
    assert!(pile
        .wait_for(|e| matches!(e, Event::Started { .. }), Duration::from_millis(300))
        .await
        .is_none());

    // A fen past the fee buys 36 s, and the pile stops there by itself.
    let session = start(&server, phys, 1, json!({"plan_id": time, "prepaid": "0.11"})).await;
    let b = bill(&server, &session).await;
    assert!(b["bill"]["seconds"].as_u64().unwrap() <= 60, "{b}");
    assert_eq!(dec(&b["bill"]["total"]), dec!(0.11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_negative_and_zero_amounts_get_a_json_422_and_the_server_keeps_serving() {
    let server = Server::start();
    let (station, time, energy, _) = setup(&server).await;
    let phys = 0x05000005;
    register(&server, phys, station).await;
    let pile = connect(&server, config(phys)).await;
    pile.set_profile(1, Profile::Constant(dec!(150)));
    plug(&server, &pile, 1).await;
    let start_path = format!("/api/v1/piles/{}/ports/1/start", pile_id(phys));
    let huge = "79228162514264337593543950335";

    let cases = [
        // prepaid_hours × per_hour panicked on overflow here.
        (start_path.as_str(), json!({"plan_id": time, "prepaid_hours": huge}), "prepaid_hours"),
        (&start_path, json!({"plan_id": time, "prepaid_hours": "-1"}), "prepaid_hours"),
        (&start_path, json!({"plan_id": time, "prepaid_hours": "0"}), "prepaid_hours"),
        (&start_path, json!({"plan_id": energy, "prepaid": huge}), "prepaid"),
        (&start_path, json!({"plan_id": energy, "prepaid": "-5"}), "prepaid"),
        (&start_path, json!({"plan_id": energy, "prepaid": "0"}), "prepaid"),
        (&start_path, json!({"plan_id": energy, "prepaid": "5", "balance": huge}), "balance"),
        (&start_path, json!({"plan_id": energy, "prepaid": "5", "balance": "-1"}), "balance"),
        ("/api/v1/stations", json!({"name": "S", "tariff_id": 1, "service_fee": huge}), "service_fee"),
        ("/api/v1/stations", json!({"name": "S", "tariff_id": 1, "minimum_charge": huge}), "minimum_charge"),
        (
            "/api/v1/plans",
            json!({"name": "p", "pricing": {"kind": "time", "per_hour": huge, "unit_minutes": 1}}),
            "pricing",
        ),
        ("/api/v1/merchants", json!({"name": "m", "commission_percent": huge}), "commission_percent"),
    ];
    for (path, body, field) in cases {
        let (s, v) = server.post(path, body.clone()).await;
        assert_eq!(
            (s, v["error"].as_str(), v["field"].as_str()),
            (422, Some("invalid"), Some(field)),
            "{body}: {v}"
        );
    }
    // Scientific and numeric forms are refused as JSON errors too, never 5xx.
    for raw in [r#"{"prepaid": "1e30"}"#, r#"{"prepaid": 1e30}"#, r#"{"prepaid_hours": 1e300}"#] {
        let (s, v) = server.post_raw(&start_path, raw).await;
        assert!((400..500).contains(&s) && v["error"].is_string(), "{raw}: {s} {v}");
    }

    // The bounds are in the OpenAPI document for generated clients.
    let doc: Value = serde_json::from_str(api::openapi::document()).unwrap();
    let prepaid = &doc["components"]["schemas"]["StartBody"]["properties"]["prepaid"];
    assert_eq!(prepaid["maximum"], json!(100000), "{prepaid}");

    // And the server still serves a sane start.
    start(&server, phys, 1, json!({"plan_id": time, "prepaid_hours": "1"})).await;
}

/// AP3000 §1.0.3: a command the pile leaves unanswered is sent once more
/// (same message id) after the resend wait, and commands to one pile go out
/// at least the gap apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_command_is_sent_again_once_and_commands_are_spaced() {
    let server = Server::start_with(|c| {
        c.dny_command_gap_ms = 1_000;
        c.dny_resend_after_ms = 1_500;
    });
    let (station, ..) = setup(&server).await;
    let phys = 0x05D0_0090;
    register(&server, phys, station).await;
    let mut pile = connect(&server, config(phys)).await;
    let url = format!("/api/v1/piles/{}/commands", pile_id(phys));

    // The simulated pile does not answer a refresh (0x81).
    assert_eq!(server.post(&url, json!({"kind": "refresh", "port": 1})).await.0, 202);
    let refresh = |e: &Event| matches!(e, Event::Frame { cmd: 0x81, .. });
    pile.wait_for(refresh, WAIT).await.expect("sent at once");
    pile.wait_for(refresh, WAIT).await.expect("sent again");
    let resends = "chargeplane_command_resends_total{protocol=\"dny\"}";
    assert_eq!(server.metric(resends).await, 1.0);

    // The next command waits a gap after the resend: not there a fraction
    // of it later, then delivered (the simulated pile restarts on it).
    let (s, reboot) = server.post(&url, json!({"kind": "reboot", "when_idle": false})).await;
    assert_eq!(s, 202, "{reboot}");
    let early = pile.wait_for(|e| matches!(e, Event::Closed), Duration::from_millis(300)).await;
    assert_eq!(early, None, "sent within the gap");
    pile.wait_for(|e| matches!(e, Event::Closed), WAIT).await.expect("the reboot arrives");
}
