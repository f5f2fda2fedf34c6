//! Cards swiped at piles over real sockets: a YKC card start authorised
//! against its account, refused with each of the protocol's reasons that
//! apply (no account, frozen, balance too low, an unsettled charge, not
//! allowed at this station), a top-up mid-charge raising what the pile may
//! spend (0x42), and an e-bike card swipe answered go and started, both
//! paid from the card's wallet.

use crate::common;

use std::time::Duration;

use common::{dec, ykc_msg, Server};
use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event as EbikeEvent, Profile};
use loadtest::ykc_pile::{Event, SimPile};
use proto::ykc::{CardStartVerdict as V, Message};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// Swipes a card and returns the pile's verdict: (ok, reason, balance).
async fn swipe(pile: &mut SimPile, gun: u8, card: [u8; 8]) -> (bool, u8, Decimal) {
    pile.swipe_card(gun, card);
    match pile.wait_for(|e| matches!(e, Event::CardVerdict { .. }), WAIT).await {
        Some(Event::CardVerdict { ok, reason, balance, .. }) => (ok, reason, balance),
        other => panic!("no verdict: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ykc_card_start_is_authorised_against_its_account() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let id = "60000000000031";
    let station = server.station_with_pile(id, 2).await;
    let mut pile = server.ykc_pile(id, 2).await;
    pile.plug(1, true);
    pile.plug(2, true);

    let (driver, token) = server.driver(&codes, "13900000031", "40.00").await;
    let card = [0x11; 8];
    let (s, c) = server
        .post(
            &format!("/api/v1/drivers/{driver}/cards"),
            json!({"number": "1111111111111111", "kind": "physical"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");

    assert_eq!(swipe(&mut pile, 1, [0x99; 8]).await.1, V::NO_ACCOUNT);

    // Accepted: the verdict carries what the wallet holds for the charge
    // (30 of its 40), and the pile starts by itself.
    let (ok, _, balance) = swipe(&mut pile, 1, card).await;
    assert_eq!((ok, balance), (true, dec!(30)));
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(10), dec!(30)), "{wallet}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "charging").await;

    // The same account cannot start a second charge while this one runs.
    assert_eq!(swipe(&mut pile, 2, card).await.1, V::CARD_UNSETTLED);

    // A top-up mid-charge raises the hold, and the pile hears (0x42) that
    // the charge may now spend 60.
    let (s, order) = server.post_as(&token, "/api/v1/me/orders", json!({"amount": "20.00"})).await;
    assert_eq!(s, 201, "{order}");
    server.post(order["pay_url"].as_str().unwrap(), json!({})).await;
    let ev = pile.wait_for(|e| matches!(ykc_msg(e), Some(Message::BalanceUpdate(_))), WAIT).await;
    let Some(Message::BalanceUpdate(update)) = ev.as_ref().and_then(ykc_msg) else {
        panic!("no balance update: {ev:?}")
    };
    assert_eq!((update.gun, update.physical_card, update.balance), (1, card, dec!(60)));
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(0), dec!(60)), "{wallet}");

    // 2 kWh at 1.50 is taken from the hold; the rest comes back.
    pile.set_energy(1, dec!(2));
    pile.send_realtime(1);
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(57.00), dec!(0)), "{wallet}");

    // A frozen card, an emptied wallet, and a station private to a fleet.
    let (s, _) = server.post_patch("/api/v1/cards/1111111111111111", json!({"status": "frozen"})).await;
    assert_eq!(s, 200);
    assert_eq!(swipe(&mut pile, 2, card).await.1, V::FROZEN);
    server.post_patch("/api/v1/cards/1111111111111111", json!({"status": "active"})).await;
    let (s, r) = server.post_as(&token, "/api/v1/me/refunds", json!({"amount": "57.00"})).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(swipe(&mut pile, 2, card).await.1, V::BALANCE_TOO_LOW);
    let private = json!({"name": "fleet only", "class": "fleet", "station_id": station, "kind": "allow"});
    let (s, rule) = server.post("/api/v1/rules", private).await;
    assert_eq!(s, 201, "{rule}");
    assert_eq!(swipe(&mut pile, 2, card).await.1, V::NOT_ALLOWED_HERE);

    let started = "chargeplane_card_starts_total{result=\"started\"}";
    assert_eq!(server.metric(started).await, 1.0);
    assert_eq!(server.metric("chargeplane_card_starts_total{result=\"unknown_card\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_card_starts_total{result=\"not_allowed_here\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ebike_card_swipe_is_answered_go_and_charges_the_wallet() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let (_, tariff) = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0"}},
                   "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
        )
        .await;
    let (_, station) =
        server.post("/api/v1/stations", json!({"name": "bikes", "tariff_id": tariff["id"]})).await;
    let phys = 0x05CA_4D01_u32;
    let pile_id = format!("{phys:08X}");
    let body = json!({"id": pile_id, "station_id": station["id"], "protocol": "dny", "ports": 10});
    let (s, p) = server.post("/api/v1/piles", body).await;
    assert_eq!(s, 201, "{p}");
    let (_, token) = server.driver(&codes, "13900000032", "5.00").await;
    let (s, c) =
        server.post_as(&token, "/api/v1/me/cards", json!({"number": "00c0ffee", "kind": "physical"})).await;
    assert_eq!((s, c["number"].as_str()), (201, Some("00C0FFEE")), "{c}");

    let mut cfg = EbikeConfig::new(phys);
    cfg.time_scale = 3600.0;
    cfg.tick = 30;
    cfg.report_every = 300;
    cfg.heartbeat = 180;
    let mut pile = EbikePile::connect(server.pile_addr, cfg).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, EbikeEvent::Registered { .. }), WAIT).await;
    assert!(matches!(ev, Some(EbikeEvent::Registered { accepted: true })), "{ev:?}");
    server.until(&format!("/api/v1/piles/{pile_id}"), |v| v["online"] == true).await;
    pile.set_profile(4, Profile::Constant(dec!(200)));
    pile.plug(4, true);
    server.until(&format!("/api/v1/piles/{pile_id}"), |v| v["ports"][3]["status"] == "plugged").await;

    // A rider asks the balance (port 0xFF): told, and nothing starts.
    for (card, answer) in [(0x00C0_FFEE, (0, Some(dec!(5.00)))), (0x0BAD_CAFE, (1, Some(dec!(0))))] {
        pile.ask_balance(card);
        let ev = pile.wait_for(|e| matches!(e, EbikeEvent::CardReply { .. }), WAIT).await;
        let Some(EbikeEvent::CardReply { card: c, status, balance }) = ev else { panic!("no reply: {ev:?}") };
        assert_eq!((c, (status, balance)), (card, answer));
    }
    let (_, view) = server.get(&format!("/api/v1/piles/{pile_id}")).await;
    assert_eq!(view["ports"][3]["status"], "plugged", "{view}");

    // Unknown cards are refused in the e-bike protocol's own code.
    pile.swipe_card(4, 0x0BAD_CAFE);
    let ev = pile.wait_for(|e| matches!(e, EbikeEvent::CardReply { .. }), WAIT).await;
    assert!(matches!(ev, Some(EbikeEvent::CardReply { status: 1, .. })), "{ev:?}");

    // The whole wallet (5.00, under the 30 yuan hold) is held and the port starts.
    pile.swipe_card(4, 0x00C0_FFEE);
    let ev = pile.wait_for(|e| matches!(e, EbikeEvent::CardReply { .. }), WAIT).await;
    let Some(EbikeEvent::CardReply { status, balance, .. }) = ev else { panic!("no reply: {ev:?}") };
    assert_eq!((status, balance), (0, Some(dec!(5.00))));
    let live =
        server.until(&format!("/api/v1/piles/{pile_id}"), |v| v["ports"][3]["status"] == "charging").await;
    let session = live["ports"][3]["session_id"].as_str().unwrap_or_default().to_owned();
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!(dec(&wallet["held"]), dec!(5.00), "{wallet}");

    let (s, v) = server.post(&format!("/api/v1/piles/{pile_id}/ports/4/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let done = server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    let total = dec(&done["bill"]["total"]);
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    assert_eq!((dec(&wallet["balance"]), dec(&wallet["held"])), (dec!(5.00) - total, dec!(0)), "{wallet}");
}
