//! YKC car piles beyond the walking skeleton: the billing model a pile asks
//! for, the pile's own total reconciled against the platform's bill, and a
//! transaction record that arrives twice billed once.

use crate::common;

use std::time::Duration;

use chrono::Timelike;
use common::{dec, ykc_msg, Server, YkcMessages};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use loadtest::ykc_wire::rate;
use proto::ykc::{self, Message};
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use vocab::{PileId, SessionId};

const WAIT: Duration = Duration::from_secs(5);

async fn login(server: &Server, id: &str) -> SimPile {
    let mut cfg = PileConfig::new(PileId(id.into()), 1);
    cfg.realtime = Duration::from_secs(3600);
    let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    pile
}

/// Charges 10 kWh on gun 1 and returns the session's bill once billed.
async fn charge(server: &Server, pile: &mut SimPile, id: &str) -> (String, Value) {
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
    pile.set_energy(1, dec!(10));
    pile.send_realtime(1);
    server
        .until(&format!("/api/v1/sessions/{session}"), |v| {
            v["kwh"].as_str().is_some_and(|k| dec(&json!(k)) == dec!(10))
        })
        .await;
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    let (_, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    (session, bill)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pile_priced_by_the_served_model_reconciles_and_one_that_is_not_is_flagged() {
    let server = Server::start();
    let (priced, unpriced) = ("60000000000001", "60000000000002");
    let station = server.station_with_pile(priced, 1).await;
    server.register(unpriced, station, 1).await;

    // The pile asks for its billing model and gets the station's prices
    // (flat 1.00 + 0.50 service per kWh).
    let mut pile = login(&server, priced).await;
    pile.request_billing_model();
    let ev = pile.wait_for(|e| matches!(e, Event::BillingModel(_)), WAIT).await;
    let Some(Event::BillingModel(model)) = ev else { panic!("no billing model: {ev:?}") };
    let flat = model.rates[rate::FLAT];
    assert_eq!((flat.energy, flat.service), (dec!(1), dec!(0.5)));

    // Priced by the same model: 10 kWh × 1.50 = 15.00 on both sides.
    let (_, bill) = charge(&server, &mut pile, priced).await;
    assert_eq!(dec(&bill["total"]), dec!(15.00), "{bill}");
    let r = &bill["reconciliation"];
    assert_eq!(
        (dec(&r["pile_amount"]), dec(&r["difference"]), r["flagged"].as_bool()),
        (dec!(15), dec!(0), Some(false))
    );

    // A pile that never fetched the model prices the charge at nothing.
    let mut stray = login(&server, unpriced).await;
    let (_, bill) = charge(&server, &mut stray, unpriced).await;
    let r = &bill["reconciliation"];
    assert_eq!(
        (dec(&r["pile_amount"]), dec(&r["difference"]), r["flagged"].as_bool()),
        (dec!(0), dec!(15), Some(true))
    );
    assert_eq!(dec(&bill["total"]), dec!(15.00), "the platform bills from its own tariff");
    assert_eq!(server.metric("chargeplane_bill_mismatches_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_record_received_again_is_acknowledged_and_not_billed_twice() {
    let server = Server::start();
    let id = "60000000000003";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;
    let (session, first) = charge(&server, &mut pile, id).await;

    // The same serial again, claiming a different amount.
    let t = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(10, 0, 0).unwrap();
    let usage = || ykc::PeriodUsage { price: dec!(0), kwh: dec!(0), loss_kwh: dec!(0), amount: dec!(0) };
    let again = ykc::TransactionRecord {
        serial: SessionId(session.clone()),
        pile: PileId(id.into()),
        gun: 1,
        start: t,
        end: t,
        periods: [usage(), usage(), usage(), usage()],
        meter_start: dec!(0),
        meter_end: dec!(99),
        kwh: dec!(99),
        loss_kwh: dec!(99),
        amount: dec!(1),
        vin: String::new(),
        origin: ykc::TransactionRecord::ORIGIN_APP,
        trade_time: t,
        stop_reason: 0x40,
        physical_card: [0; 8],
    };
    pile.send_msg(Message::TransactionRecord(again));
    let ev = pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await;
    assert!(
        matches!(&ev, Some(Event::RecordAcked { serial, invalid: false }) if serial.as_str() == session),
        "{ev:?}"
    );
    let (_, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(bill, first, "the first bill stands");
    assert_eq!(server.metric("chargeplane_duplicate_records_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tariff_is_pushed_to_idle_piles_at_once_and_to_busy_ones_when_they_finish() {
    let server = Server::start();
    let (idle_id, busy_id) = ("60000000000004", "60000000000005");
    let station = server.station_with_pile(idle_id, 1).await;
    server.register(busy_id, station, 1).await;
    let mut idle = login(&server, idle_id).await;
    let mut busy = login(&server, busy_id).await;

    // A charge runs on one pile while the tariff changes (1.50 → 3.00 a kWh).
    let (s, v) = server.post(&format!("/api/v1/piles/{busy_id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    busy.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
    let (s, tariff) = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "dearer", "prices": {"flat": {"energy": "2", "service": "1"}},
                   "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
        )
        .await;
    assert_eq!(s, 201, "{tariff}");
    let res = server
        .http
        .put(format!("{}/api/v1/stations/{station}/tariff", server.base))
        .bearer_auth(&server.admin)
        .json(&json!({"tariff_id": tariff["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The idle pile gets the new model at once; the busy one does not yet.
    let ev = idle.wait_for(|e| matches!(e, Event::BillingModel(_)), WAIT).await;
    let Some(Event::BillingModel(model)) = ev else { panic!("idle pile got no model: {ev:?}") };
    assert_eq!(model.rates[rate::FLAT].energy, dec!(2));
    assert!(busy
        .wait_for(|e| matches!(e, Event::BillingModel(_)), Duration::from_millis(300))
        .await
        .is_none());

    // The running charge ends at the price it started under; then the pile
    // gets the new model.
    busy.set_energy(1, dec!(10));
    busy.send_realtime(1);
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["kwh"].as_str() == Some("10.0000")).await;
    let (s, _) = server.post(&format!("/api/v1/piles/{busy_id}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202);
    let ev = busy.wait_for(|e| matches!(e, Event::BillingModel(_)), WAIT).await;
    assert!(
        matches!(ev, Some(Event::BillingModel(ref m)) if m.rates[rate::FLAT].energy == dec!(2)),
        "{ev:?}"
    );
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    let (_, old) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(dec(&old["total"]), dec!(15.00), "started under the old tariff: {old}");
    assert_eq!(server.metric("chargeplane_tariff_pushes_total{outcome=\"sent\"}").await, 2.0);

    // The next charge is priced by the new tariff.
    let (_, new) = charge(&server, &mut busy, busy_id).await;
    assert_eq!(dec(&new["total"]), dec!(30.00), "{new}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_start_is_answered_at_once_with_the_protocols_reason() {
    let server = Server::start();
    let id = "60000000000006";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;
    let swipe = |mode| {
        Message::CardStart(ykc::CardStart {
            pile: PileId(id.into()),
            gun: 1,
            mode,
            password_required: false,
            card: [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1],
            password_md5: [0; 16],
            vin: "LSVAU2180N2183294".into(),
        })
    };
    for (mode, reason) in [
        (ykc::CardStart::MODE_CARD, ykc::CardStartVerdict::NO_ACCOUNT),
        (ykc::CardStart::MODE_VIN, ykc::CardStartVerdict::VIN_UNKNOWN),
    ] {
        pile.send_msg(swipe(mode));
        let ev = pile.wait_for(|e| matches!(ykc_msg(e), Some(Message::CardStartVerdict(_))), WAIT).await;
        let Some(Message::CardStartVerdict(v)) = ev.as_ref().and_then(ykc_msg) else {
            panic!("no verdict: {ev:?}")
        };
        assert_eq!((v.ok, v.reason, v.gun), (false, reason, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_started_offline_by_card_is_billed_from_its_record_once() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let id = "60000000000007";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;
    // The card belongs to a driver with 20 yuan in the wallet.
    let (driver, token) = server.driver(&codes, "13900000007", "20.00").await;
    let card = json!({"number": "1234000000000009", "kind": "physical"});
    let (s, c) = server.post(&format!("/api/v1/drivers/{driver}/cards"), card).await;
    assert_eq!(s, 201, "{c}");
    list_offline(&server, id, "1234000000000009").await;

    // An offline card charged 12 kWh an hour ago while the pile could not
    // reach the platform; the record is all the platform ever sees of it.
    let (serial, record) = offline_record(id, [0x12, 0x34, 0, 0, 0, 0, 0, 9], dec!(12));
    for _ in 0..2 {
        pile.send_msg(Message::TransactionRecord(record.clone()));
        let ev = pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await;
        assert!(matches!(&ev, Some(Event::RecordAcked { invalid: false, .. })), "{ev:?}");
    }
    let done = server.until(&format!("/api/v1/sessions/{serial}"), |v| v["state"] == "finished").await;
    assert_eq!(done["stop_reason"]["code"], 0x45, "{done}");
    // 12 kWh × (1.00 + 0.50) = 18.00, matching what the pile computed.
    let bill = &done["bill"];
    assert_eq!((dec(&bill["kwh"]), dec(&bill["total"])), (dec!(12), dec!(18.00)), "{bill}");
    assert_eq!(bill["reconciliation"]["flagged"], false);
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_duplicate_records_total").await, 1.0);
    // Paid from the card's wallet once, though nothing was held: 2.00 is
    // left (a charge beyond the balance would leave the driver owing).
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(2.00), dec!(0)), "{wallet}");
}

/// Puts a card on the pile's offline list (the pile need not answer).
async fn list_offline(server: &Server, id: &str, card: &str) {
    let sync = json!({"kind": "offline_cards_sync", "cards": [card]});
    let (s, cmd) = server.post(&format!("/api/v1/piles/{id}/commands"), sync).await;
    assert_eq!(s, 202, "{cmd}");
    let (_, listed) = server.get(&format!("/api/v1/piles/{id}/offline-cards")).await;
    assert_eq!(listed, json!([card]));
}

/// The record of a charge an offline card made an hour ago: `kwh` at
/// 1.50 a kWh, as a pile priced by the test station's tariff reports it.
fn offline_record(id: &str, card: [u8; 8], kwh: rust_decimal::Decimal) -> (String, ykc::TransactionRecord) {
    let local = (chrono::Utc::now() + chrono::Duration::hours(8)).naive_utc();
    let (start, end) = (local - chrono::Duration::hours(2), local - chrono::Duration::hours(1));
    let serial = format!("{id}01{}0001", start.format("%y%m%d%H%M%S"));
    let usage = || ykc::PeriodUsage { price: dec!(0), kwh: dec!(0), loss_kwh: dec!(0), amount: dec!(0) };
    let record = ykc::TransactionRecord {
        serial: SessionId(serial.clone()),
        pile: PileId(id.into()),
        gun: 1,
        start: start.with_nanosecond(0).unwrap(),
        end: end.with_nanosecond(0).unwrap(),
        periods: [usage(), usage(), usage(), usage()],
        meter_start: dec!(100),
        meter_end: dec!(100) + kwh,
        kwh,
        loss_kwh: kwh,
        amount: kwh * dec!(1.5),
        vin: String::new(),
        origin: ykc::TransactionRecord::ORIGIN_OFFLINE_CARD,
        trade_time: end.with_nanosecond(0).unwrap(),
        stop_reason: 0x45,
        physical_card: card,
    };
    (serial, record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_charge_takes_no_more_than_the_cap_and_an_unknown_card_pays_nothing() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.offline_charge_cap = dec!(10);
    });
    let id = "60000000000008";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;
    let (driver, token) = server.driver(&codes, "13900000008", "20.00").await;
    let card = json!({"number": "1234000000000008", "kind": "physical"});
    assert_eq!(server.post(&format!("/api/v1/drivers/{driver}/cards"), card).await.0, 201);
    list_offline(&server, id, "1234000000000008").await;

    // 12 kWh would cost 18.00: the wallet gives no more than the cap.
    let (serial, record) = offline_record(id, [0x12, 0x34, 0, 0, 0, 0, 0, 8], dec!(12));
    pile.send_msg(Message::TransactionRecord(record));
    pile.wait_for(|e| matches!(e, Event::RecordAcked { invalid: false, .. }), WAIT).await.unwrap();
    let done = server.until(&format!("/api/v1/sessions/{serial}"), |v| v["state"] == "finished").await;
    assert_eq!(dec(&done["bill"]["total"]), dec!(10.00), "{done}");
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(10.00), "{wallet}");

    // A card no one registered: acknowledged, billed to no wallet, alarmed.
    let (serial, mut record) = offline_record(id, [0x99, 0, 0, 0, 0, 0, 0, 1], dec!(2));
    record.serial = SessionId(format!("{}2", &serial[..serial.len() - 1]));
    pile.send_msg(Message::TransactionRecord(record));
    pile.wait_for(|e| matches!(e, Event::RecordAcked { invalid: false, .. }), WAIT).await.unwrap();
    let alarms = server
        .until("/api/v1/alarms", |v| {
            v.as_array().is_some_and(|l| l.iter().filter(|a| a["kind"] == "offline_charge").count() == 2)
        })
        .await;
    let texts: Vec<_> = alarms.as_array().unwrap().iter().filter_map(|a| a["message"].as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("offline cap")), "{alarms}");
    assert!(texts.iter().any(|t| t.contains("no account")), "{alarms}");
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(10.00), "{wallet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_charge_is_billed_only_to_a_card_on_that_piles_offline_list() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let (listing, other) = ("60000000000010", "60000000000011");
    let station = server.station_with_pile(listing, 1).await;
    server.register(other, station, 1).await;
    let (mut a, mut b) = (login(&server, listing).await, login(&server, other).await);
    let (driver, token) = server.driver(&codes, "13900000010", "20.00").await;
    let card = json!({"number": "1234000000000010", "kind": "physical"});
    assert_eq!(server.post(&format!("/api/v1/drivers/{driver}/cards"), card).await.0, 201);
    list_offline(&server, listing, "1234000000000010").await;
    let physical = [0x12, 0x34, 0, 0, 0, 0, 0, 0x10];

    // The other pile was never given the card: its offline charge with it
    // is acknowledged, billed to no one and alarmed.
    let (serial, record) = offline_record(other, physical, dec!(2));
    b.send_msg(Message::TransactionRecord(record));
    b.wait_for(|e| matches!(e, Event::RecordAcked { invalid: false, .. }), WAIT).await.unwrap();
    let done = server.until(&format!("/api/v1/sessions/{serial}"), |v| v["state"] == "finished").await;
    assert!(done["terms"].is_object() && done["terms"]["payer"].is_null(), "{done}");
    let offline = |v: &Value| v.as_array().is_some_and(|l| l.iter().any(|a| a["kind"] == "offline_charge"));
    let alarms = server.until("/api/v1/alarms", offline).await;
    let alarm = alarms.as_array().unwrap().iter().find(|a| a["kind"] == "offline_charge").unwrap();
    assert!(alarm["message"].as_str().unwrap().contains("offline list"), "{alarm}");
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(20.00), "{wallet}");

    // Taken off the listing pile once it confirms; its later record pays nothing.
    let clear = json!({"kind": "offline_cards_clear", "cards": ["1234000000000010"]});
    assert_eq!(server.post(&format!("/api/v1/piles/{listing}/commands"), clear).await.0, 202);
    a.wait_for(|e| matches!(ykc_msg(e), Some(Message::OfflineCardClear(_))), WAIT).await.unwrap();
    let removed = ykc::CardRemoval { physical_card: physical, ok: true, reason: 0 };
    let pile = PileId(listing.into());
    a.send_msg(Message::OfflineCardClearResult(ykc::OfflineCardClearResult { pile, cards: vec![removed] }));
    server.until(&format!("/api/v1/piles/{listing}/offline-cards"), |v| v == &json!([])).await;
    let (serial, record) = offline_record(listing, physical, dec!(2));
    a.send_msg(Message::TransactionRecord(record));
    a.wait_for(|e| matches!(e, Event::RecordAcked { invalid: false, .. }), WAIT).await.unwrap();
    let done = server.until(&format!("/api/v1/sessions/{serial}"), |v| v["state"] == "finished").await;
    assert!(done["terms"].is_object() && done["terms"]["payer"].is_null(), "{done}");
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(20.00), "{wallet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_frames_are_kept_as_diagnostics() {
    let server = Server::start();
    let id = "60000000000015";
    server.station_with_pile(id, 1).await;
    let pile = login(&server, id).await;
    let serial = SessionId(format!("{id}01{}", "2603011200000001"));
    for (kind, data) in [(0x15u8, &[0x01u8, 0x02][..]), (0x23, &[0x55, 0x03, 0x14])] {
        let frame = ykc::BmsFrame {
            kind,
            serial: serial.clone(),
            pile: PileId(id.into()),
            gun: 1,
            data: bytes::Bytes::copy_from_slice(data),
        };
        pile.send_msg(Message::Bms(frame));
    }
    let path = format!("/api/v1/piles/{id}/diagnostics");
    let kept = server.until(&path, |v| v.as_array().is_some_and(|a| a.len() == 2)).await;
    assert_eq!(kept[0]["kind"], "charging demand and output", "{kept}");
    assert_eq!(kept[0]["data"], "550314", "{kept}");
    assert_eq!(kept[0]["session_id"], serial.as_str(), "{kept}");
    assert_eq!(kept[1]["kind"], "BMS handshake", "{kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_left_unanswered_is_stopped_at_the_pile_before_the_session_fails() {
    let server = Server::start_with(|c| c.start_timeout_ms = 300);
    let id = "60000000000009";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;
    // The pile starts charging but its answer never reaches the platform.
    pile.go_silent();
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    let started = pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(matches!(started, Some(Event::StartRequested { accepted: true, .. })), "{started:?}");
    // An unbilled charge must not go on: the platform stops it.
    let stop = pile.wait_for(|e| matches!(e, Event::StopRequested { .. }), WAIT).await;
    assert_eq!(stop, Some(Event::StopRequested { gun: 1 }));
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billed_final_record_frees_the_port_and_its_stop_reason_reads_as_the_spec_table() {
    let server = Server::start();
    let id = "60000000000009";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;
    let start = format!("/api/v1/piles/{id}/ports/1/start");

    // (code, text of table 13.1): a pulled gun is the driver's doing and
    // raises nothing, a temperature fault is the pile's and is critical.
    let cases = [(0x6Bu8, "abnormal: control pilot disconnected"), (0x74, "abnormal: temperature abnormal")];
    let mut sessions = vec![];
    for (code, text) in cases {
        let (s, v) = server.post(&start, json!({})).await;
        assert_eq!(s, 202, "the port is free again after the last bill: {v}");
        let session = v["session_id"].as_str().unwrap().to_owned();
        pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
        server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
        // The pile stops by itself; its last status report still says
        // "charging", and no other report follows the record.
        pile.stop_at_pile(1, code);
        pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
        let done = server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
        let reason = &done["stop_reason"];
        assert_eq!(
            (reason["code"].as_u64(), reason["text"].as_str()),
            (Some(u64::from(code)), Some(text)),
            "{done}"
        );
        sessions.push(session);
    }
    let alarms = server.until(&format!("/api/v1/alarms?pile_id={id}"), |l| l != &json!([])).await;
    let [alarm] = alarms.as_array().unwrap().as_slice() else { panic!("one alarm expected: {alarms}") };
    assert_eq!(alarm["severity"], "critical", "{alarm}");
    assert!(alarm["message"].as_str().unwrap().contains(&sessions[1]), "{alarm}");

    // A record with no status report after it, for a charge the platform
    // runs and for one the pile ran alone: the port is free once it is billed.
    let pile_path = format!("/api/v1/piles/{id}");
    let charging = || server.until(&pile_path, |p| p["ports"][0]["status"] == "charging");
    let (s, v) = server.post(&start, json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    pile.send_realtime(1);
    charging().await;
    let (_, mut record) = offline_record(id, [0; 8], dec!(1));
    (record.serial, record.origin, record.stop_reason) =
        (SessionId(session.clone()), ykc::TransactionRecord::ORIGIN_APP, 0x41);
    let (_, offline) = offline_record(id, [0x12, 0x34, 0, 0, 0, 0, 0, 7], dec!(1));
    for record in [record, offline] {
        let serial = record.serial.0.clone();
        pile.send_msg(Message::TransactionRecord(record));
        pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
        server.until(&format!("/api/v1/sessions/{serial}"), |v| v["state"] == "finished").await;
        let port =
            server.until(&format!("/api/v1/piles/{id}"), |p| p["ports"][0]["status"] != "charging").await;
        assert_eq!(port["ports"][0]["status"], "plugged", "{port}");
        // The pile's last word on the gun still says charging.
        pile.send_realtime(1);
        charging().await;
    }
}
