//! OCPP 1.6J charge points over a real WebSocket: the handshake's refusals,
//! boot, a remote start to a bill (billed once however often the stop is
//! sent), a card start by idTag paid from a wallet, CALLERRORs for payloads
//! that do not fit while the link stays up, and a reconnect replacing the
//! old link. The charge point is `loadtest::ocpp_cp`, written from the
//! spec with plain JSON.

use crate::common;

use std::time::Duration;

use common::{dec, Server, WAIT};
use loadtest::ocpp_cp::{ChargePoint, WsError};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

fn server() -> Server {
    Server::start_with(|c| {
        c.ocpp_heartbeat_interval_ms = 10_000;
        c.ocpp_call_timeout_ms = 2_000;
    })
}

/// A flat 1.00 + 0.50 per kWh station with OCPP charge point `id`.
pub(crate) async fn station_with_charge_point(server: &Server, id: &str, connectors: u8) -> i64 {
    let station = server.station_with_pile("69999999999999", 1).await;
    let body = json!({"id": id, "station_id": station, "protocol": "ocpp", "ports": connectors});
    let (s, p) = server.post("/api/v1/piles", body).await;
    assert_eq!(s, 201, "{p}");
    station
}

/// Connects and boots `id`, and waits until the platform shows it online.
pub(crate) async fn booted(server: &Server, id: &str) -> ChargePoint {
    let mut cp = ChargePoint::connect(server.ocpp_addr, id).await.expect("connects");
    assert_eq!(cp.subprotocol.as_deref(), Some("ocpp1.6"));
    let conf = cp.boot().await.expect("boot answered");
    assert_eq!((conf["status"].as_str(), conf["interval"].as_u64()), (Some("Accepted"), Some(10)), "{conf}");
    assert!(conf["currentTime"].as_str().is_some_and(|t| t.ends_with('Z')), "{conf}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    cp
}

/// Starts a charge on `port` over HTTP and plays the charge point's side:
/// RemoteStartTransaction accepted, StartTransaction from `meter_start` Wh,
/// Charging. The session's id and the transaction's.
pub(crate) async fn remote_start(
    server: &Server,
    cp: &mut ChargePoint,
    id: &str,
    port: u32,
    meter_start: i64,
) -> (String, i64) {
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/{port}/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    cp.answer("RemoteStartTransaction", "Accepted", WAIT).await.expect("RemoteStartTransaction");
    let tx =
        cp.start_transaction(port, &session, meter_start).await.unwrap()["transactionId"].as_i64().unwrap();
    cp.status(port, "Charging", "NoError").await.unwrap();
    (session, tx)
}

fn http_status(e: WsError) -> u16 {
    match e {
        WsError::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_charge_point_boots_and_others_are_refused() {
    let server = server();
    station_with_charge_point(&server, "CP-BOOT-1", 1).await;
    let mut cp = booted(&server, "CP-BOOT-1").await;
    let beat = cp.call("Heartbeat", json!({})).await.unwrap();
    assert!(beat["currentTime"].is_string(), "{beat}");
    // A message five times the link's 4 KiB read buffer (well under the
    // size limit) is read whole and answered.
    let long = cp.call("DataTransfer", json!({"vendorId": "V", "data": "x".repeat(20_000)})).await;
    assert_eq!(long.unwrap()["status"], "UnknownVendorId");

    // No ocpp1.6 offered, another version only, a path naming no charge
    // point, an id with odd characters: refused at the handshake.
    let addr = server.ocpp_addr;
    let refused = |r: Result<ChargePoint, WsError>| http_status(r.err().expect("refused"));
    assert_eq!(refused(ChargePoint::connect_offering(addr, "/ocpp/CP-BOOT-1", None).await), 400);
    assert_eq!(refused(ChargePoint::connect_offering(addr, "/ocpp/CP-BOOT-1", Some("ocpp2.0.1")).await), 400);
    assert_eq!(refused(ChargePoint::connect_offering(addr, "/piles/CP-BOOT-1", Some("ocpp1.6")).await), 404);
    assert_eq!(refused(ChargePoint::connect_offering(addr, "/ocpp/CP%20x", Some("ocpp1.6")).await), 400);
    // Offered among others, ocpp1.6 is chosen.
    let two = ChargePoint::connect_offering(addr, "/ocpp/CP-BOOT-2", Some("ocpp2.0.1, ocpp1.6")).await;
    assert_eq!(two.unwrap().subprotocol.as_deref(), Some("ocpp1.6"));

    // Not registered (and no auto-registration): closed, counted.
    let mut stranger = ChargePoint::connect(addr, "CP-UNKNOWN").await.expect("the socket opens");
    assert!(stranger.closed_within(WAIT).await, "an unknown charge point is closed");
    let unknown = "chargeplane_logins_total{protocol=\"ocpp\",result=\"unknown_pile\"}";
    assert!(server.metric(unknown).await >= 1.0);
    assert_eq!(
        server.metric("chargeplane_links_closed_total{protocol=\"ocpp\",reason=\"no_subprotocol\"}").await,
        2.0
    );

    // The registered one is unaffected.
    assert!(cp.call("Heartbeat", json!({})).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_start_is_metered_stopped_and_billed_once() {
    let server = server();
    let id = "CP-REMOTE-1";
    station_with_charge_point(&server, id, 1).await;
    let mut cp = booted(&server, id).await;
    cp.status(1, "Preparing", "NoError").await.unwrap();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "plugged").await;

    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    let start = cp.answer("RemoteStartTransaction", "Accepted", WAIT).await.expect("RemoteStartTransaction");
    assert_eq!((start["connectorId"].as_u64(), start["idTag"].as_str()), (Some(1), Some(session.as_str())));

    let conf = cp.start_transaction(1, &session, 1_000).await.unwrap();
    assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
    let tx = conf["transactionId"].as_i64().expect("an integer transactionId");
    assert_eq!(tx.to_string(), session, "the transaction is the session");
    cp.status(1, "Charging", "NoError").await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;

    // 10 kWh past the meter's start of 1 kWh.
    cp.meter_values(1, Some(tx), 11_000, 7_000).await.unwrap();
    server
        .until(&format!("/api/v1/sessions/{session}"), |v| {
            v["kwh"].as_str().is_some_and(|k| dec(&json!(k)) == dec!(10))
        })
        .await;

    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let stop = cp.answer("RemoteStopTransaction", "Accepted", WAIT).await.expect("RemoteStopTransaction");
    assert_eq!(stop["transactionId"].as_i64(), Some(tx));
    let conf = cp.stop_transaction(tx, 11_000, "Remote").await.unwrap();
    assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    let (_, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(dec(&bill["total"]), dec!(15.00), "{bill}");

    // The charge point did not hear the answer and sends the stop again:
    // answered, not billed twice.
    let again = cp.stop_transaction(tx, 11_000, "Remote").await;
    assert!(again.is_ok(), "{again:?}");
    let (_, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(dec(&bill["total"]), dec!(15.00), "{bill}");
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_start_by_id_tag_is_paid_from_the_wallet() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.ocpp_heartbeat_interval_ms = 10_000;
    });
    let id = "CP-CARD-1";
    station_with_charge_point(&server, id, 1).await;
    let (driver, token) = server.driver(&codes, "13900000071", "40.00").await;
    let tag = "0A1B2C3D4E5F6071";
    let (s, c) = server
        .post(&format!("/api/v1/drivers/{driver}/cards"), json!({"number": tag, "kind": "physical"}))
        .await;
    assert_eq!(s, 201, "{c}");
    let mut cp = booted(&server, id).await;
    cp.status(1, "Preparing", "NoError").await.unwrap();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "plugged").await;

    let refused = cp.call("Authorize", json!({"idTag": "FFFFFFFF"})).await.unwrap();
    assert_eq!(refused["idTagInfo"]["status"], "Invalid", "{refused}");
    let ok = cp.call("Authorize", json!({"idTag": tag})).await.unwrap();
    assert_eq!(ok["idTagInfo"]["status"], "Accepted", "{ok}");

    let conf = cp.start_transaction(1, tag, 0).await.unwrap();
    assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
    let tx = conf["transactionId"].as_i64().unwrap();
    assert!(tx > 0);
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(10), dec!(30)), "{wallet}");

    cp.status(1, "Charging", "NoError").await.unwrap();
    cp.meter_values(1, Some(tx), 2_000, 7_000).await.unwrap();
    let conf = cp.stop_transaction(tx, 2_000, "Local").await.unwrap();
    assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
    server.until(&format!("/api/v1/sessions/{tx}"), |v| v["state"] == "finished").await;
    // 2 kWh at 1.50 from the hold; the rest back in the wallet.
    let wallet = server
        .until_as(&token, "/api/v1/me/wallet", |w| {
            w["held"].as_str().is_some_and(|h| dec(&json!(h)).is_zero())
        })
        .await;
    assert_eq!(dec(&wallet["balance"]), dec!(37.00), "{wallet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfit_payloads_get_the_standard_callerror_and_the_link_stays_up() {
    let server = server();
    let id = "CP-BAD-1";
    station_with_charge_point(&server, id, 1).await;
    let mut cp = booted(&server, id).await;

    let cases = [
        (
            r#"{"connectorId": "one", "errorCode": "NoError", "status": "Available"}"#,
            "TypeConstraintViolation",
        ),
        (r#"{"connectorId": 1, "status": "Available"}"#, "OccurenceConstraintViolation"),
        (r#"{"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}"#, "PropertyConstraintViolation"),
        (
            r#"{"connectorId": 1, "errorCode": "NoError", "status": "Available", "x": 1}"#,
            "FormationViolation",
        ),
    ];
    for (n, (payload, code)) in cases.iter().enumerate() {
        let msg_id = format!("bad-{n}");
        cp.send_raw(&format!(r#"[2,"{msg_id}","StatusNotification",{payload}]"#)).await.unwrap();
        let err = cp.answer_to(&msg_id).await.expect_err("a CALLERROR").expect("answered");
        assert_eq!(err.code, *code, "{payload}: {err:?}");
    }
    cp.send_raw(r#"[2,"bad-x","Teleport",{}]"#).await.unwrap();
    assert_eq!(cp.answer_to("bad-x").await.unwrap_err().unwrap().code, "NotImplemented");
    cp.send_raw(r#"[2,"bad-y","Heartbeat"]"#).await.unwrap();
    assert_eq!(cp.answer_to("bad-y").await.unwrap_err().unwrap().code, "FormationViolation");
    // Not JSON at all, and an answer to nothing the platform asked: no
    // reply is possible or due; counted.
    cp.send_raw("[2, \"bad-z\", ").await.unwrap();
    cp.send_raw(r#"[3,"4242",{}]"#).await.unwrap();

    // Still up and served.
    let beat: Value = cp.call("Heartbeat", json!({})).await.unwrap();
    assert!(beat["currentTime"].is_string());
    let errors = |kind: &str| format!("chargeplane_frame_errors_total{{kind=\"{kind}\",protocol=\"ocpp\"}}");
    assert_eq!(server.metric(&errors("ocpp_type_constraint")).await, 1.0);
    assert_eq!(server.metric(&errors("ocpp_formation_violation")).await, 3.0);
    assert_eq!(server.metric(&errors("ocpp_unexpected_answer")).await, 1.0);
    let (_, pile) = server.get(&format!("/api/v1/piles/{id}")).await;
    assert_eq!(pile["online"], true, "{pile}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_of_the_same_charge_point_replaces_the_first() {
    let server = server();
    let id = "CP-TWICE-1";
    station_with_charge_point(&server, id, 1).await;
    let mut first = booted(&server, id).await;
    let mut second = booted(&server, id).await;
    assert!(first.closed_within(WAIT).await, "the old link is closed");
    assert!(second.call("Heartbeat", json!({})).await.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, pile) = server.get(&format!("/api/v1/piles/{id}")).await;
    assert_eq!(pile["online"], true, "{pile}");
    assert_eq!(server.metric("chargeplane_piles_connected{protocol=\"ocpp\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_limit_reaches_the_charge_point_as_a_charging_profile() {
    for unit in ["Power", "Current"] {
        station_limit_as_a_profile(unit).await;
    }
}

/// The grant comes in W, or in A per phase to a charge point whose
/// ChargingScheduleAllowedChargingRateUnit (asked at boot) is Current only.
async fn station_limit_as_a_profile(unit: &'static str) {
    let server = Server::start_with(|c| {
        c.ocpp_heartbeat_interval_ms = 10_000;
        c.power_interval_ms = 200;
    });
    let id = "CP-POWER-1";
    let station = station_with_charge_point(&server, id, 1).await;
    let (s, v) = server
        .http
        .put(format!("{}/api/v1/stations/{station}/power", server.base))
        .bearer_auth(&server.admin)
        .json(&json!({"transformer": {"capacity_w": "5000", "margin_w": "0"}, "ykc_gun_rated_w": "7000",
                      "ebike_port_min_w": "120", "ebike_port_max_w": "600"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200, "{:?}", v.text().await);
    let mut cp = ChargePoint::connect(server.ocpp_addr, id).await.expect("connects");
    cp.rate_unit = unit;
    assert_eq!(cp.boot().await.unwrap()["status"], "Accepted");
    cp.status(1, "Preparing", "NoError").await.unwrap();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "plugged").await;
    let (_, tx) = remote_start(&server, &mut cp, id, 1, 0).await;
    cp.meter_values(1, Some(tx), 100, 4_000).await.unwrap();

    // The grant (what it draws with room to grow, within the transformer's
    // 5000 W) comes as the transaction's own profile, in W.
    for _ in 0..50 {
        if !cp.accepted.is_empty() {
            break;
        }
        cp.listen(Duration::from_millis(100)).await;
    }
    let call = cp.accepted.first().expect("a SetChargingProfile");
    assert_eq!(call.action, "SetChargingProfile");
    let p = &call.payload;
    assert_eq!(p["connectorId"], 1, "{p}");
    let profile = &p["csChargingProfiles"];
    assert_eq!(
        (profile["chargingProfilePurpose"].as_str(), profile["transactionId"].as_i64()),
        (Some("TxProfile"), Some(tx)),
        "{p}"
    );
    let schedule = &profile["chargingSchedule"];
    let limit = schedule["chargingSchedulePeriod"][0]["limit"].as_f64().unwrap();
    if unit == "Power" {
        assert_eq!(schedule["chargingRateUnit"], "W", "{p}");
        assert!((4_000.0..=5_000.0).contains(&limit), "{p}");
    } else {
        // 4000-5000 W over three phases at 230 V.
        assert_eq!(schedule["chargingRateUnit"], "A", "{p}");
        assert_eq!(schedule["chargingSchedulePeriod"][0]["numberPhases"], 3, "{p}");
        assert!((5.7..=7.3).contains(&limit), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_notification_error_raises_the_matching_alarm() {
    let server = server();
    let id = "CP-ALARM-1";
    station_with_charge_point(&server, id, 1).await;
    let mut cp = booted(&server, id).await;
    cp.status(1, "Faulted", "GroundFailure").await.unwrap();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "fault").await;
    let alarm = "chargeplane_pile_alarms_total{kind=\"ground_failure\",severity=\"critical\"}";
    for _ in 0..100 {
        if server.metric(alarm).await >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.metric(alarm).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_is_in_flight_at_a_time_and_each_ends_acknowledged_refused_or_given_up() {
    let server = Server::start_with(|c| {
        c.ocpp_heartbeat_interval_ms = 10_000;
        c.ocpp_call_timeout_ms = 2_000;
        c.command_timeout_ms = 8_000;
    });
    let id = "CP-CMD-1";
    station_with_charge_point(&server, id, 2).await;
    let mut cp = booted(&server, id).await;
    let url = format!("/api/v1/piles/{id}/commands");
    let mut ids = Vec::new();
    for body in [
        json!({"kind": "reboot", "when_idle": true}),
        json!({"kind": "work_params", "enabled": false, "max_power_percent": 100}),
        json!({"kind": "refresh", "port": 2}),
    ] {
        let (s, v) = server.post(&url, body).await;
        assert_eq!(s, 202, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    // A command OCPP cannot say is refused at once.
    let (s, v) = server.post(&url, json!({"kind": "time_sync"})).await;
    assert!((400..500).contains(&s), "{s} {v}");

    // Reset first, and nothing else while it is unanswered.
    let reset = cp.next_call("Reset", WAIT).await.expect("Reset");
    assert_eq!(reset.payload, json!({"type": "Soft"}));
    cp.listen(Duration::from_millis(300)).await;
    assert!(cp.next_call("ChangeAvailability", Duration::ZERO).await.is_none(), "one call in flight");
    cp.reply(&reset, json!({"status": "Accepted"})).await.unwrap();

    // ChangeAvailability refused by the charge point.
    let change = cp.next_call("ChangeAvailability", WAIT).await.expect("ChangeAvailability");
    assert_eq!(change.payload, json!({"connectorId": 0, "type": "Inoperative"}));
    cp.reply(&change, json!({"status": "Rejected"})).await.unwrap();

    // TriggerMessage never answered: given up after the call timeout.
    let trigger = cp.next_call("TriggerMessage", WAIT).await.expect("TriggerMessage");
    assert_eq!(trigger.payload, json!({"requestedMessage": "MeterValues", "connectorId": 2}));

    let server = &server;
    let outcome = |n: usize, want: &'static str| {
        let path = format!("/api/v1/piles/{id}/commands/{}", ids[n]);
        async move { server.until(&path, |v| v["outcome"] == want).await }
    };
    outcome(0, "acknowledged").await;
    let refused = outcome(1, "refused").await;
    assert_eq!(refused["detail"], "Rejected", "{refused}");
    let gone = "chargeplane_frame_errors_total{kind=\"call_timeout\",protocol=\"ocpp\"}";
    for _ in 0..100 {
        if server.metric(gone).await >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.metric(gone).await, 1.0);
    outcome(2, "refused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_only_its_own_link() {
    let server = Server::start_with(|c| {
        c.ocpp_heartbeat_interval_ms = 10_000;
        c.ocpp_max_message_bytes = 4096;
    });
    let station = station_with_charge_point(&server, "CP-BIG-1", 1).await;
    let body = json!({"chargePointVendor": "V", "chargePointModel": "M"});
    let cp2 = json!({"id": "CP-BIG-2", "station_id": station, "protocol": "ocpp", "ports": 1});
    let (s, p) = server.post("/api/v1/piles", cp2).await;
    assert_eq!(s, 201, "{p}");
    let mut big = booted(&server, "CP-BIG-1").await;
    let mut other = booted(&server, "CP-BIG-2").await;
    let data = "x".repeat(8192);
    big.send_raw(&json!([2, "huge", "DataTransfer", {"vendorId": "V", "data": data}]).to_string())
        .await
        .unwrap();
    assert!(big.closed_within(WAIT).await, "closed");
    let oversized = "chargeplane_frame_errors_total{kind=\"ocpp_oversized\",protocol=\"ocpp\"}";
    assert_eq!(server.metric(oversized).await, 1.0);
    assert!(other.call("BootNotification", body).await.is_ok(), "the other charge point is unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_charge_point_is_closed_after_three_heartbeat_intervals_and_an_unponged_one_sooner() {
    let server = Server::start_with(|c| {
        c.ocpp_heartbeat_interval_ms = 300;
        c.ocpp_ping_interval_ms = 60_000;
    });
    station_with_charge_point(&server, "CP-IDLE-1", 1).await;
    let mut cp = ChargePoint::connect(server.ocpp_addr, "CP-IDLE-1").await.unwrap();
    assert_eq!(cp.boot().await.unwrap()["interval"], 1, "whole seconds, at least one");
    // Reading (so pings are answered), sending nothing.
    assert!(cp.closed_within(WAIT).await, "closed for silence");
    let idle = "chargeplane_links_closed_total{protocol=\"ocpp\",reason=\"heartbeat_timeout\"}";
    assert_eq!(server.metric(idle).await, 1.0);

    let server = Server::start_with(|c| {
        c.ocpp_heartbeat_interval_ms = 60_000;
        c.ocpp_ping_interval_ms = 100;
    });
    station_with_charge_point(&server, "CP-PONG-1", 1).await;
    let mut cp = ChargePoint::connect(server.ocpp_addr, "CP-PONG-1").await.unwrap();
    cp.boot().await.unwrap();
    // Read and so answer pings for a while: still up...
    cp.listen(Duration::from_millis(500)).await;
    assert!(cp.call("Heartbeat", json!({})).await.is_ok());
    // ...then stop reading: no pongs go back, and the socket is closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cp.closed_within(WAIT).await, "closed for want of pongs");
    let pong = "chargeplane_frame_errors_total{kind=\"ocpp_pong_timeout\",protocol=\"ocpp\"}";
    assert_eq!(server.metric(pong).await, 1.0);
}

/// Stops the platform and starts it again on the same data directory (new
/// ports; tokens are stored, so the admin's still works).
fn restart(server: &mut Server, tweak: impl FnOnce(&mut api::ServeConfig)) {
    server.bg.take().expect("running").stop();
    let mut cfg = common::test_config(server.data_dir());
    tweak(&mut cfg);
    let bg = api::server::Background::spawn(cfg).expect("restarts");
    server.base = format!("http://{}", bg.http_addr);
    (server.pile_addr, server.ocpp_addr) = (bg.pile_addr, bg.ocpp_addr);
    server.bg = Some(bg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_goes_on_billing_across_a_reconnect_and_a_platform_restart() {
    let tweak = |c: &mut api::ServeConfig| {
        c.ocpp_heartbeat_interval_ms = 10_000;
        c.ocpp_call_timeout_ms = 2_000;
    };
    let mut server = Server::start_with(tweak);
    let id = "CP-RESTART-1";
    station_with_charge_point(&server, id, 2).await;
    let mut cp = booted(&server, id).await;
    cp.status(2, "Preparing", "NoError").await.unwrap();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][1]["status"] == "plugged").await;
    let (session, tx) = remote_start(&server, &mut cp, id, 2, 1_000).await;
    let kwh_is = |want: Decimal| move |v: &Value| v["kwh"].as_str().is_some_and(|k| dec(&json!(k)) == want);
    cp.meter_values(2, Some(tx), 5_000, 7_000).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), kwh_is(dec!(4))).await;

    // The link drops and the charge point comes back on a new one: its
    // register still counts from the transaction's start.
    drop(cp);
    let mut cp = booted(&server, id).await;
    cp.meter_values(2, Some(tx), 7_000, 7_000).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), kwh_is(dec!(6))).await;

    // The platform restarts; the charge point reconnects and stops at once
    // (a StopTransaction names no connector): billed from the start's
    // register, on the connector it ran on.
    drop(cp);
    restart(&mut server, tweak);
    let mut cp = booted(&server, id).await;
    let conf = cp.stop_transaction(tx, 11_000, "Local").await.unwrap();
    assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
    let done = server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    assert_eq!((done["port"].as_u64(), dec(&done["kwh"])), (Some(2), dec!(10)), "{done}");
    let (_, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(dec(&bill["total"]), dec!(15.00), "{bill}");
    let again = cp.stop_transaction(tx, 11_000, "Local").await.unwrap();
    assert_eq!(again["idTagInfo"]["status"], "Accepted", "{again}");
    let (_, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(dec(&bill["total"]), dec!(15.00), "{bill}");
}

/// `t` as OCPP writes it.
fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_queued_offline_are_billed_by_their_own_times_once() {
    use chrono::{DurationRound, TimeDelta, Utc};
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.ocpp_heartbeat_interval_ms = 10_000;
    });
    // Each charge ran for an hour that ended an hour ago, half of it in the
    // valley (0.30 + 0.40 a kWh) and half at the peak (1.00 + 0.60).
    let start = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::hours(2);
    let (boundary, stop) = (start + TimeDelta::minutes(30), start + TimeDelta::hours(1));
    let b = boundary.format("%H:%M").to_string();
    let (s, t) = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "tou", "prices": {"valley": {"energy": "0.3", "service": "0.4"},
                                             "peak": {"energy": "1.0", "service": "0.6"}},
                   "periods": [{"from": "00:00", "to": b, "period": "valley"},
                               {"from": b, "to": "24:00", "period": "peak"}]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let (s, st) = server
        .post("/api/v1/stations", json!({"name": "TOU", "tariff_id": t["id"], "utc_offset_minutes": 0}))
        .await;
    assert_eq!(s, 201, "{st}");
    let id = "CP-OFFLINE-1";
    let body = json!({"id": id, "station_id": st["id"], "protocol": "ocpp", "ports": 2});
    assert_eq!(server.post("/api/v1/piles", body).await.0, 201);
    let (driver, token) = server.driver(&codes, "13900000072", "40.00").await;
    let tag = "0A1B2C3D4E5F6072";
    let (s, c) = server
        .post(&format!("/api/v1/drivers/{driver}/cards"), json!({"number": tag, "kind": "physical"}))
        .await;
    assert_eq!(s, 201, "{c}");
    // Back online, the charge point sends what it queued: a start by the
    // card on its offline list (its local list) on connector 1, one by a tag
    // the platform does not know on connector 2, their meter values and stops.
    let mut cp = booted(&server, id).await;
    let (s, v) = server
        .post(&format!("/api/v1/piles/{id}/commands"), json!({"kind": "offline_cards_sync", "cards": [tag]}))
        .await;
    assert_eq!(s, 202, "{v}");
    let list = cp.next_call("SendLocalList", WAIT).await.expect("SendLocalList");
    assert_eq!(list.payload["updateType"], "Differential", "{:?}", list.payload);
    assert_eq!(
        list.payload["localAuthorizationList"],
        json!([{"idTag": tag, "idTagInfo": {"status": "Accepted"}}])
    );
    cp.reply(&list, json!({"status": "Accepted"})).await.unwrap();
    server
        .until(&format!("/api/v1/piles/{id}/commands/{}", v["id"]), |v| v["outcome"] == "acknowledged")
        .await;
    let mut txs = Vec::new();
    for (connector, who) in [(1, tag), (2, "DEADBEEF")] {
        let queued =
            json!({"connectorId": connector, "idTag": who, "meterStart": 2_000, "timestamp": stamp(start)});
        let conf = cp.call("StartTransaction", queued.clone()).await.unwrap();
        assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
        let tx = conf["transactionId"].as_i64().expect("a transaction");
        // Its answer was lost and it is sent again: the same transaction.
        let again = cp.call("StartTransaction", queued).await.unwrap();
        assert_eq!(again["transactionId"].as_i64(), Some(tx), "{again}");
        let values = json!({"connectorId": connector, "transactionId": tx, "meterValue": [
            {"timestamp": stamp(boundary), "sampledValue": [{"value": "7000", "unit": "Wh"}]}]});
        assert!(cp.call("MeterValues", values).await.is_ok());
        let end = json!({"transactionId": tx, "meterStop": 12_000, "timestamp": stamp(stop), "idTag": who});
        let conf = cp.call("StopTransaction", end.clone()).await.unwrap();
        assert_eq!(conf["idTagInfo"]["status"], "Accepted", "{conf}");
        // And the stop again: answered, billed once.
        assert!(cp.call("StopTransaction", end).await.is_ok());
        txs.push(tx);
    }
    for tx in &txs {
        let done = server.until(&format!("/api/v1/sessions/{tx}"), |v| v["state"] == "finished").await;
        assert_eq!(
            done["started_at"].as_str().map(|s| s.parse::<chrono::DateTime<Utc>>().unwrap()),
            Some(start)
        );
        assert_eq!(
            done["ended_at"].as_str().map(|s| s.parse::<chrono::DateTime<Utc>>().unwrap()),
            Some(stop)
        );
        let (_, bill) = server.get(&format!("/api/v1/sessions/{tx}/bill")).await;
        // 5 kWh at 0.70 and 5 kWh at 1.60.
        assert_eq!(dec(&bill["total"]), dec!(11.50), "{bill}");
    }
    // The listed card's wallet paid; the unknown tag's charge is billed to
    // no one, and the operator is told.
    let wallet = server.until_as(&token, "/api/v1/me/wallet", |w| dec(&w["balance"]) != dec!(40)).await;
    assert_eq!(dec(&wallet["balance"]), dec!(28.50), "{wallet}");
    let alarm = "chargeplane_pile_alarms_total{kind=\"offline_charge\",severity=\"warning\"}";
    for _ in 0..100 {
        if server.metric(alarm).await >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.metric(alarm).await, 1.0);
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_kind_reaches_the_charge_point_and_ends_with_its_answer() {
    let server = server();
    let id = "CP-CMDS-1";
    station_with_charge_point(&server, id, 2).await;
    let mut cp = booted(&server, id).await;
    let url = format!("/api/v1/piles/{id}/commands");
    // (command, the call it becomes, its payload, the charge point's answer, outcome)
    let cases = [
        (
            json!({"kind": "change_configuration", "key": "MeterValueSampleInterval", "value": "60"}),
            "ChangeConfiguration",
            json!({"key": "MeterValueSampleInterval", "value": "60"}),
            json!({"status": "RebootRequired"}),
            "acknowledged",
        ),
        (
            json!({"kind": "get_configuration", "keys": ["MeterValueSampleInterval"]}),
            "GetConfiguration",
            json!({"key": ["MeterValueSampleInterval"]}),
            json!({"configurationKey": [{"key": "MeterValueSampleInterval", "readonly": false, "value": "60"}]}),
            "acknowledged",
        ),
        (
            json!({"kind": "get_configuration"}),
            "GetConfiguration",
            json!({}),
            json!({"unknownKey": []}),
            "acknowledged",
        ),
        (
            json!({"kind": "unlock_connector", "port": 2}),
            "UnlockConnector",
            json!({"connectorId": 2}),
            json!({"status": "UnlockFailed"}),
            "refused",
        ),
        (
            json!({"kind": "get_diagnostics", "url": "ftp://logs.example.com/cp/"}),
            "GetDiagnostics",
            json!({"location": "ftp://logs.example.com/cp/"}),
            json!({"fileName": "diag-1.zip"}),
            "acknowledged",
        ),
        (
            json!({"kind": "clear_cache"}),
            "ClearCache",
            json!({}),
            json!({"status": "Accepted"}),
            "acknowledged",
        ),
        (
            json!({"kind": "get_local_list_version"}),
            "GetLocalListVersion",
            json!({}),
            json!({"listVersion": 7}),
            "acknowledged",
        ),
        (
            json!({"kind": "data_transfer", "vendor_id": "com.example", "message_id": "ping", "data": "1"}),
            "DataTransfer",
            json!({"vendorId": "com.example", "messageId": "ping", "data": "1"}),
            json!({"status": "Accepted", "data": "pong"}),
            "acknowledged",
        ),
        (
            json!({"kind": "data_transfer", "vendor_id": "org.other"}),
            "DataTransfer",
            json!({"vendorId": "org.other"}),
            json!({"status": "UnknownVendorId"}),
            "refused",
        ),
    ];
    for (body, action, payload, answer, outcome) in cases {
        let (s, v) = server.post(&url, body.clone()).await;
        assert_eq!(s, 202, "{body}: {v}");
        let call = cp.next_call(action, WAIT).await.unwrap_or_else(|| panic!("{action} for {body}"));
        assert_eq!(call.payload, payload, "{body}");
        cp.reply(&call, answer.clone()).await.unwrap();
        let done = server.until(&format!("{url}/{}", v["id"]), |v| v["outcome"] != "pending").await;
        assert_eq!(done["outcome"], outcome, "{body}: {done}");
        // What the charge point said is kept where it answered a question.
        if ["GetConfiguration", "GetDiagnostics", "GetLocalListVersion"].contains(&action)
            || (action == "DataTransfer" && outcome == "acknowledged")
        {
            assert_eq!(done["answer"], answer, "{done}");
        }
    }
    // Firmware: an UpdateFirmware to fetch now, its empty answer a yes.
    let (s, v) = server
        .post(&url, json!({"kind": "firmware", "url": "https://fw.example.com/v2.bin", "when_idle": true}))
        .await;
    assert_eq!(s, 202, "{v}");
    let call = cp.next_call("UpdateFirmware", WAIT).await.expect("UpdateFirmware");
    assert_eq!(call.payload["location"], "https://fw.example.com/v2.bin");
    assert!(call.payload["retrieveDate"].as_str().is_some_and(|d| d.ends_with('Z')), "{:?}", call.payload);
    cp.reply(&call, json!({})).await.unwrap();
    server.until(&format!("{url}/{}", v["id"]), |v| v["outcome"] == "acknowledged").await;
    // Its progress, and the diagnostics upload's, are answered and kept.
    for (action, status) in
        [("FirmwareStatusNotification", "Installed"), ("DiagnosticsStatusNotification", "Uploaded")]
    {
        assert_eq!(cp.call(action, json!({"status": status})).await.unwrap(), json!({}));
    }
    let seen = server
        .until(&format!("/api/v1/piles/{id}/diagnostics"), |v| v.as_array().is_some_and(|d| d.len() == 2))
        .await;
    let kept: Vec<_> =
        seen.as_array().unwrap().iter().map(|d| (d["kind"].clone(), d["data"].clone())).collect();
    assert!(kept.contains(&(json!("FirmwareStatusNotification"), json!("Installed"))), "{seen}");
    assert!(kept.contains(&(json!("DiagnosticsStatusNotification"), json!("Uploaded"))), "{seen}");

    // Out of OCPP's bounds, or not an OCPP command: refused with the reason.
    for body in [
        json!({"kind": "change_configuration", "key": "k".repeat(51), "value": "1"}),
        json!({"kind": "data_transfer", "vendor_id": "v".repeat(256)}),
        json!({"kind": "qr_prefix", "prefix": "https://x/", "per_gun": false}),
    ] {
        let (s, v) = server.post(&url, body.clone()).await;
        assert_eq!((s, v["field"].as_str()), (422, Some("kind")), "{body}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_point_with_a_password_must_present_it_on_the_upgrade() {
    let server = server();
    let id = "CP-AUTH-1";
    station_with_charge_point(&server, id, 1).await;
    let url = format!("/api/v1/piles/{id}/ocpp-password");
    let put = |body: Value| server.call(Some(&server.admin), "PUT", &url, body);
    // Bounded, and only for OCPP charge points.
    assert_eq!(put(json!({"password": "short"})).await.0, 422);
    assert_eq!(put(json!({"password": "x".repeat(41)})).await.0, 422);
    assert_eq!(put(json!({"pass": "x"})).await.0, 422);
    let (s, v) = server
        .call(
            Some(&server.admin),
            "PUT",
            "/api/v1/piles/69999999999999/ocpp-password",
            json!({"password": "0123456789abcdef"}),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("password")), "{v}");
    let (s, _) = put(json!({"password": "0123456789abcdef"})).await;
    assert_eq!(s, 204);
    // Not without a manager's token.
    assert_eq!(server.call(None, "PUT", &url, json!({"password": null})).await.0, 401);

    let addr = server.ocpp_addr;
    let refused = |r: Result<ChargePoint, WsError>| http_status(r.err().expect("refused"));
    assert_eq!(refused(ChargePoint::connect(addr, id).await), 401, "no password");
    assert_eq!(refused(ChargePoint::connect_with_password(addr, id, "0123456789abcdeX").await), 401, "wrong");
    let mut cp =
        ChargePoint::connect_with_password(addr, id, "0123456789abcdef").await.expect("the right one");
    assert_eq!(cp.boot().await.unwrap()["status"], "Accepted");
    let unauthorized = "chargeplane_links_closed_total{protocol=\"ocpp\",reason=\"unauthorized\"}";
    assert_eq!(server.metric(unauthorized).await, 2.0);

    // Removed: it connects without one again.
    assert_eq!(put(json!({"password": null})).await.0, 204);
    assert!(ChargePoint::connect(addr, id).await.is_ok());

    // Where every charge point must have one, one without is refused.
    let strict = Server::start_with(|c| c.ocpp_require_password = true);
    station_with_charge_point(&strict, "CP-AUTH-2", 1).await;
    assert_eq!(refused(ChargePoint::connect(strict.ocpp_addr, "CP-AUTH-2").await), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_taken_out_of_service_is_made_inoperative_at_the_charge_point() {
    let server = server();
    let id = "CP-AVAIL-1";
    station_with_charge_point(&server, id, 2).await;
    let mut cp = booted(&server, id).await;
    let port = format!("/api/v1/piles/{id}/ports/2");

    let (s, v) = server.post_patch(&port, json!({"in_service": false})).await;
    assert_eq!(s, 200, "{v}");
    let call = cp.answer("ChangeAvailability", "Accepted", WAIT).await.expect("ChangeAvailability");
    assert_eq!(call, json!({"connectorId": 2, "type": "Inoperative"}));
    // The platform refuses the port's charges whatever the charge point does.
    let (s, v) = server.post(&format!("{port}/start"), json!({})).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("out_of_service")), "{v}");

    // Back in service; a charge point that defers it (a charge running) is fine.
    let (s, v) = server.post_patch(&port, json!({"in_service": true})).await;
    assert_eq!(s, 200, "{v}");
    let call = cp.answer("ChangeAvailability", "Scheduled", WAIT).await.expect("ChangeAvailability");
    assert_eq!(call, json!({"connectorId": 2, "type": "Operative"}));
}

/// OCPP 1.6 §4.2: a login the store cannot answer is no refusal. The
/// charge point is answered Pending with the retry interval and keeps its
/// link; its next BootNotification logs it in again. A YKC pile in the same
/// case is closed, as before. The store fails for real: a trigger in the
/// server's SQLite file refuses auto-registration's insert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_the_store_cannot_answer_is_pending_and_accepted_on_a_later_boot() {
    let mut server = server();
    let station = server.station_with_pile("69999999999998", 1).await;
    restart(&mut server, |c| {
        (c.ocpp_heartbeat_interval_ms, c.ocpp_pending_retry_ms) = (10_000, 7_000);
        c.auto_register_station = Some(station);
    });
    let db = rusqlite::Connection::open(server.data_dir().join("chargeplane.db")).unwrap();
    db.busy_timeout(WAIT).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_piles BEFORE INSERT ON piles BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();

    let id = "CP-PENDING-1";
    let mut cp = ChargePoint::connect(server.ocpp_addr, id).await.expect("connects");
    for _ in 0..2 {
        let conf = cp.boot().await.expect("boot answered on the same link");
        assert_eq!(
            (conf["status"].as_str(), conf["interval"].as_u64()),
            (Some("Pending"), Some(7)),
            "{conf}"
        );
    }
    assert_eq!(server.get(&format!("/api/v1/piles/{id}")).await.0, 404, "not registered while pending");
    let errors = "chargeplane_logins_total{protocol=\"ocpp\",result=\"error\"}";
    assert_eq!(server.metric(errors).await, 3.0, "the connection's login and one per boot");

    // Other protocols are closed as before.
    let ykc = loadtest::ykc_pile::PileConfig::new(vocab::PileId("60000000000031".into()), 1);
    let mut pile = loadtest::ykc_pile::SimPile::connect(server.pile_addr, ykc).await.unwrap();
    let refused = pile.wait_for(|e| matches!(e, loadtest::ykc_pile::Event::LoginRefused), WAIT).await;
    assert!(refused.is_some(), "a YKC pile whose login errs is refused");

    // The store answers again: the next boot is Accepted and the charge point online.
    db.execute_batch("DROP TRIGGER refuse_piles;").unwrap();
    let conf = cp.boot().await.expect("boot answered");
    assert_eq!((conf["status"].as_str(), conf["interval"].as_u64()), (Some("Accepted"), Some(10)), "{conf}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    assert!(cp.call("Heartbeat", json!({})).await.is_ok());
    let accepted = "chargeplane_logins_total{protocol=\"ocpp\",result=\"accepted\"}";
    assert_eq!(server.metric(accepted).await, 1.0);
}
