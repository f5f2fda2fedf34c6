//! Money end to end: a driver registers with a code from the notification
//! webhook, tops up through the sandbox provider, charges a car pile and
//! (at a class discount) an e-bike port from the wallet, gets unused
//! prepaid time back, and the merchant's statement for the day matches
//! figures computed by hand. Forged and replayed payment notifications are
//! refused and counted.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{dec, Server};
use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event as EbikeEvent, Profile};
use loadtest::ykc_pile::Event;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_tops_up_charges_twice_and_the_merchant_is_settled_to_the_cent() {
    // 23:20 on 1 March, local (+08:00), two simulated minutes a second: the
    // charges end well before midnight, and the day is over 20 s in.
    let clock_start: DateTime<Utc> = "2026-03-01T15:20:00Z".parse().unwrap();
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.clock_start = Some(clock_start);
        c.clock_rate = 120.0;
        c.notify_webhook = Some(hook);
        c.payment_secret = Some("test-secret".into());
        c.settlement_check_ms = 100;
        c.settlement_delay_ms = 0;
    });

    // The operator: a merchant taking 6% commission owns a car station and an e-bike station.
    let (s, merchant) =
        server.post("/api/v1/merchants", json!({"name": "Mall", "commission_percent": "6"})).await;
    assert_eq!(s, 201, "{merchant}");
    let (_, tariff) = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0.5"}},
                   "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
        )
        .await;
    let station = |name: &str, fee: &str| json!({"name": name, "tariff_id": tariff["id"], "service_fee": fee, "merchant_id": merchant["id"]});
    let (s, cars) = server.post("/api/v1/stations", station("Mall P1", "0")).await;
    assert_eq!(s, 201, "{cars}");
    let (_, bikes) = server.post("/api/v1/stations", station("Mall bikes", "0.10")).await;
    let (_, plan) = server
        .post(
            "/api/v1/plans",
            json!({"name": "time", "pricing": {"kind": "time", "per_hour": "1.00", "unit_minutes": 15}}),
        )
        .await;
    let (s, rule) = server
        .post(
            "/api/v1/rules",
            json!({"name": "staff 20%", "class": "staff", "station_id": bikes["id"], "kind": "discount", "percent": "20"}),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    let car_pile = "32010600000077";
    server.register(car_pile, cars["id"].as_i64().unwrap(), 1).await;
    let phys = 0x05C0_FFEE_u32;
    let bike_pile = format!("{phys:08X}");
    let (s, p) = server
        .post(
            "/api/v1/piles",
            json!({"id": bike_pile, "station_id": bikes["id"], "protocol": "dny", "ports": 10}),
        )
        .await;
    assert_eq!(s, 201, "{p}");

    // The driver registers with the code the webhook delivered.
    let (s, _) = server.post("/api/v1/drivers/codes", json!({"phone": "13800138000"})).await;
    assert_eq!(s, 202);
    let sms = codes.recv_timeout(WAIT).expect("a login code on the webhook");
    assert_eq!(sms["phone"], "13800138000");
    let (s, wrong) = server
        .post(
            "/api/v1/drivers",
            json!({"phone": "13800138000", "code": "not-it", "password": "hunter2hunter2"}),
        )
        .await;
    assert_eq!((s, wrong["field"].as_str()), (422, Some("code")), "{wrong}");
    let (s, reg) = server
        .post(
            "/api/v1/drivers",
            json!({"phone": "13800138000", "code": sms["code"], "password": "hunter2hunter2"}),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let token = reg["token"].as_str().unwrap().to_owned();
    let (s, _) = server.get("/api/v1/me").await;
    assert_eq!(s, 401, "no token, no account");
    let (s, login) = server
        .post("/api/v1/drivers/login", json!({"phone": "13800138000", "password": "hunter2hunter2"}))
        .await;
    assert_eq!(s, 200, "{login}");
    let driver_id = reg["driver"]["id"].as_i64().unwrap();
    let (s, d) = server.post_patch(&format!("/api/v1/drivers/{driver_id}"), json!({"class": "staff"})).await;
    assert_eq!((s, d["class"].as_str()), (200, Some("staff")), "{d}");

    // Top-up: an order, paid at the sandbox, credited once.
    let (s, order) = server.post_as(&token, "/api/v1/me/orders", json!({"amount": "50.00"})).await;
    assert_eq!(s, 201, "{order}");
    let pay = order["pay_url"].as_str().unwrap().to_owned();
    let (s, paid) = server.post(&pay, json!({})).await;
    assert_eq!((s, &paid["credited"]), (200, &json!(true)), "{paid}");
    let (_, again) = server.post(&pay, json!({})).await;
    assert_eq!(again["credited"], false, "a replayed notification credits nothing");
    // A notification signed with another secret is refused.
    let forged = json!({"order_id": order["order"]["id"], "provider_txn": "x-1", "amount": "50.00",
                        "status": "paid", "paid_at": "2026-03-01T15:21:00Z"});
    let res = server
        .http
        .post(format!("{}/api/v1/payments/sandbox/notify", server.base))
        .header("X-Chargeplane-Signature", domain::payment::sign(b"guess", forged.to_string().as_bytes()))
        .body(forged.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(50.00), "{wallet}");
    assert_eq!(server.metric("chargeplane_payment_notifications_total{result=\"credited\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_payment_notifications_total{result=\"replay\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_payment_notifications_total{result=\"bad_signature\"}").await, 1.0);

    // The provider's statement against the ledger: our payment matches,
    // a payment we never booked is listed as extra.
    let csv = format!(
        "provider_txn,order_id,amount,paid_at\nsbx-{order_id},{order_id},50.00,2026-03-01T15:21:00Z\nx-9,top-x,9.99,2026-03-01T15:22:00Z\n",
        order_id = order["order"]["id"].as_str().unwrap()
    );
    let res = server
        .http
        .post(format!(
            "{}/api/v1/reconciliations?from=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z",
            server.base
        ))
        .bearer_auth(&server.admin)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let rec: Value = res.json().await.unwrap();
    assert_eq!((&rec["clean"], &rec["result"]["matched"]), (&json!(false), &json!(1)), "{rec}");
    assert_eq!(rec["result"]["extra"][0]["provider_txn"], "x-9", "{rec}");
    assert_eq!(rec["result"]["missing"], json!([]), "{rec}");

    // A car charge: 30 yuan held, 10 kWh at 1.50 = 15.00 captured, 15 released.
    let mut car = server.ykc_pile(car_pile, 1).await;
    car.plug(1, true);
    let (s, started) =
        server.post_as(&token, "/api/v1/me/charges", json!({"pile_id": car_pile, "port": 1})).await;
    assert_eq!((s, dec(&started["held"])), (202, dec!(30)), "{started}");
    car.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(20), dec!(30)), "{wallet}");
    car.set_energy(1, dec!(10));
    car.send_realtime(1);
    let (s, v) = server.post(&format!("/api/v1/piles/{car_pile}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    car.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    let car_session = started["session_id"].as_str().unwrap();
    let (_, car_bill) = server.get(&format!("/api/v1/sessions/{car_session}/bill")).await;
    assert_eq!((dec(&car_bill["total"]), dec(&car_bill["discount"])), (dec!(15.00), dec!(0)), "{car_bill}");

    // The operator corrects the car's bill to 12.00: the capture is
    // reversed and taken again, and the driver has 3.00 back.
    let fix = format!("/api/v1/sessions/{car_session}/bill/corrections");
    let (s, fixed) = server.post(&fix, json!({"total": "12.00", "reason": "meter drift"})).await;
    assert_eq!((s, &fixed["revision"]), (201, &json!(1)), "{fixed}");
    let (_, history) = server.get(&fix).await;
    assert_eq!(dec(&history["replaced"][0]["total"]), dec!(15.00), "{history}");
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(38.00), "{wallet}");

    // An e-bike charge at the staff discount: 4 hours prepaid (4.00), full
    // after 3000 s: 4 quarter hours 1.00 + 0.10 fee = 1.10, less 20% = 0.88;
    // the 3.12 of prepaid time not used goes back to the wallet.
    let mut bcfg = EbikeConfig::new(phys);
    bcfg.time_scale = 3600.0;
    bcfg.tick = 30;
    bcfg.report_every = 300;
    bcfg.heartbeat = 180;
    let mut bike = EbikePile::connect(server.pile_addr, bcfg).await.unwrap();
    let ev = bike.wait_for(|e| matches!(e, EbikeEvent::Registered { .. }), WAIT).await;
    assert!(matches!(ev, Some(EbikeEvent::Registered { accepted: true })), "{ev:?}");
    server.until(&format!("/api/v1/piles/{bike_pile}"), |v| v["online"] == true).await;
    bike.set_profile(1, Profile::Steps(vec![(0, dec!(150)), (3000, dec!(10))]));
    bike.plug(1, true);
    server.until(&format!("/api/v1/piles/{bike_pile}"), |v| v["ports"][0]["status"] == "plugged").await;
    let body = json!({"pile_id": bike_pile, "port": 1, "plan_id": plan["id"], "prepaid_hours": "4"});
    let (s, started) = server.post_as(&token, "/api/v1/me/charges", body).await;
    assert_eq!((s, dec(&started["held"])), (202, dec!(4.00)), "{started}");
    let bike_session = started["session_id"].as_str().unwrap();
    server.until(&format!("/api/v1/sessions/{bike_session}"), |v| v["state"] == "finished").await;
    let (_, bike_bill) = server.get(&format!("/api/v1/sessions/{bike_session}/bill")).await;
    assert_eq!(
        (dec(&bike_bill["list_total"]), dec(&bike_bill["discount"]), dec(&bike_bill["total"])),
        (dec!(1.10), dec!(0.22), dec!(0.88)),
        "{bike_bill}"
    );
    assert_eq!(dec(&bike_bill["refund"]), dec!(3.12));
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(37.12), dec!(0)), "{wallet}");

    // Unspent money goes back through the provider; more than is left is refused.
    let (s, r) = server.post_as(&token, "/api/v1/me/refunds", json!({"amount": "37.13"})).await;
    assert_eq!((s, r["error"].as_str()), (402, Some("insufficient_balance")), "{r}");
    let (s, r) = server.post_as(&token, "/api/v1/me/refunds", json!({"amount": "7.12"})).await;
    assert_eq!((s, dec(&r["balance"])), (201, dec!(30.00)), "{r}");

    // T+1: the day's statement, by hand: revenue 15.00 − 15.00 + 12.00
    // (the correction) + 1.10 = 13.10, discounts 0.22, paid 12.88,
    // commission 6% = 0.7728 → 0.77, payout 12.11.
    let path = format!("/api/v1/merchants/{}/statements/2026-03-01", merchant["id"]);
    let (s, early) = server.post(&path, json!({})).await;
    assert_eq!((s, early["error"].as_str()), (409, Some("day_not_over")), "{early}");
    // Nobody asks: the daily settlement issues it once the day is over.
    let mut statement = Value::Null;
    for _ in 0..300 {
        let (s, v) = server.get(&path).await;
        if s == 200 {
            statement = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statement["charges"], 2, "{statement}");
    let figures =
        ["revenue", "discounts", "paid", "commission", "payout", "refunds"].map(|k| dec(&statement[k]));
    assert_eq!(
        figures,
        [dec!(13.10), dec!(0.22), dec!(12.88), dec!(0.77), dec!(12.11), dec!(3.12)],
        "{statement}"
    );
    let (s, same) = server.post(&path, json!({})).await;
    assert_eq!((s, &same), (200, &statement), "issued once, never changed");
    assert_eq!(server.get(&path).await.1, statement);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_on_its_contract_tariff_pays_that_price_and_sees_the_list_price() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let pile = "32010600000088";
    let station = server.station_with_pile(pile, 1).await; // 1.00 + 0.50 a kWh
    let contract = json!({"name": "fleet contract", "prices": {"flat": {"energy": "0.8", "service": "0.2"}},
                          "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let (_, contract) = server.post("/api/v1/tariffs", contract).await;
    let rule = json!({"name": "fleet price", "class": "fleet", "station_id": station, "kind": "tariff",
                      "tariff_id": contract["id"]});
    let (s, r) = server.post("/api/v1/rules", rule).await;
    assert_eq!(s, 201, "{r}");
    let (s, bad) = server
        .post("/api/v1/rules", json!({"name": "x", "class": "fleet", "kind": "tariff", "tariff_id": 999}))
        .await;
    assert_eq!((s, bad["field"].as_str()), (422, Some("tariff_id")), "{bad}");
    let (driver, token) = server.driver(&codes, "13900000088", "50.00").await;
    server.post_patch(&format!("/api/v1/drivers/{driver}"), json!({"class": "fleet"})).await;

    let mut car = server.ykc_pile(pile, 1).await;
    car.plug(1, true);
    let (s, started) =
        server.post_as(&token, "/api/v1/me/charges", json!({"pile_id": pile, "port": 1})).await;
    assert_eq!(s, 202, "{started}");
    car.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    car.set_energy(1, dec!(10));
    car.send_realtime(1);
    server.post(&format!("/api/v1/piles/{pile}/ports/1/stop"), json!({})).await;
    car.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    let (_, bill) =
        server.get(&format!("/api/v1/sessions/{}/bill", started["session_id"].as_str().unwrap())).await;
    // 10 kWh: 15.00 at the station's price, 10.00 at the fleet's.
    assert_eq!(
        (dec(&bill["list_total"]), dec(&bill["discount"]), dec(&bill["total"])),
        (dec!(15.00), dec!(5.00), dec!(10.00)),
        "{bill}"
    );
    let line = bill["lines"].as_array().unwrap().iter().find(|l| l["kind"] == "discount").cloned();
    assert_eq!(line.map(|l| l["tariff_id"].clone()), Some(contract["id"].clone()), "{bill}");
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["balance"]), dec!(40.00), "{wallet}");
}
