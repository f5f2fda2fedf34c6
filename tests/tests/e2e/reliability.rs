//! Live state that survives the real world: retried HTTP requests, piles
//! that fall silent, and piles that log in again on a new connection while
//! the old one is still open.

use crate::common;

use std::time::{Duration, Instant};

use common::Server;
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use serde_json::json;
use vocab::PileId;

const WAIT: Duration = Duration::from_secs(5);

fn cfg(id: &str) -> PileConfig {
    let mut cfg = PileConfig::new(PileId(id.into()), 2);
    cfg.heartbeat = Duration::from_millis(100);
    cfg.realtime = Duration::from_secs(3600);
    cfg
}

async fn login(server: &Server, cfg: PileConfig) -> SimPile {
    let id = cfg.id.to_string();
    let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
    assert!(matches!(ev, Some(Event::LoginAccepted)), "{ev:?}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    pile
}

/// Counts the start commands a pile receives within `window`.
async fn starts(pile: &mut SimPile, window: Duration) -> usize {
    let mut n = 0;
    while pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), window).await.is_some() {
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_start_with_an_idempotency_key_returns_the_first_result() {
    let server = Server::start();
    let id = "20000000000001";
    server.station_with_pile(id, 2).await;
    let mut pile = login(&server, cfg(id)).await;
    let url = format!("{}/api/v1/piles/{id}/ports/1/start", server.base);
    let send = |key: &'static str, body: serde_json::Value| {
        server.http.post(&url).bearer_auth(&server.admin).header("Idempotency-Key", key).json(&body).send()
    };

    let first = send("order-7781", json!({"balance": "50"})).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send("order-7781", json!({"balance": "50"})).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers().get("Idempotent-Replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first);
    assert_eq!(starts(&mut pile, Duration::from_millis(300)).await, 1, "one charge, not two");

    // The same key on a different request is a client error, not a replay.
    let other = send("order-7781", json!({"balance": "60"})).await.unwrap();
    assert_eq!(other.status(), 422);
    let err: serde_json::Value = other.json().await.unwrap();
    assert_eq!(err["error"], "idempotency_key_reused");

    // Five retries racing each other on port 2: exactly one acts.
    let url2 = format!("{}/api/v1/piles/{id}/ports/2/start", server.base);
    let race = (0..5).map(|_| {
        server
            .http
            .post(&url2)
            .bearer_auth(&server.admin)
            .header("Idempotency-Key", "order-7782")
            .json(&json!({}))
            .send()
    });
    let answers = futures::future::join_all(race).await;
    let mut bodies = Vec::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 202);
        bodies.push(a.json::<serde_json::Value>().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(starts(&mut pile, Duration::from_millis(300)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pile_silent_past_its_heartbeat_window_goes_offline_and_keeps_its_charge() {
    let server = Server::start_with(|c| c.heartbeat_timeout_ms = 400);
    let id = "20000000000002";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, cfg(id)).await;
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let session = started["session_id"].as_str().unwrap().to_owned();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;

    // The pile stops heartbeating but keeps its socket open (a dead GPRS link).
    pile.go_silent();
    let since = Instant::now();
    let view = server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == false).await;
    assert!(since.elapsed() < Duration::from_secs(2), "took {:?}", since.elapsed());
    assert_eq!(view["ports"][0]["status"], "offline");
    let ev = pile.wait_for(|e| matches!(e, Event::Closed), WAIT).await;
    assert!(matches!(ev, Some(Event::Closed)), "{ev:?}");
    assert_eq!(
        server.metric("chargeplane_links_closed_total{protocol=\"ykc\",reason=\"heartbeat_timeout\"}").await,
        1.0
    );
    let (_, open) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(open["state"], "charging", "the charge stays open while the pile is away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_on_a_new_socket_replaces_the_old_one_within_a_second() {
    let server = Server::start();
    let id = "20000000000003";
    server.station_with_pile(id, 1).await;
    let mut old = login(&server, cfg(id)).await;

    let since = Instant::now();
    let mut new = login(&server, cfg(id)).await;
    let ev = old.wait_for(|e| matches!(e, Event::Closed), Duration::from_secs(1)).await;
    assert!(matches!(ev, Some(Event::Closed)), "old link still open: {ev:?}");
    assert!(since.elapsed() < Duration::from_secs(1));
    assert_eq!(
        server.metric("chargeplane_links_closed_total{protocol=\"ykc\",reason=\"replaced\"}").await,
        1.0
    );

    // Commands go to the new connection.
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let ev = new.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::StartRequested { accepted: true, .. })), "{ev:?}");
    let (_, view) = server.get(&format!("/api/v1/piles/{id}")).await;
    assert_eq!(view["online"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_is_queued_not_dropped_and_keeps_open_charges() {
    // Two logins authorized at a time; forty piles arrive at once, twice.
    let server = Server::start_with(|c| c.concurrent_logins = 2);
    let ids: Vec<String> = (0..40).map(|i| format!("{}", 21_000_000_000_000u64 + i)).collect();
    let station = server.station_with_pile(&ids[0], 2).await;
    for id in &ids[1..] {
        server.register(id, station, 2).await;
    }
    let storm = || {
        futures::future::join_all(ids.iter().map(|id| async {
            let mut pile = SimPile::connect(server.pile_addr, cfg(id)).await.unwrap();
            let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
            (pile, ev)
        }))
    };
    let first = storm().await;
    assert!(first.iter().all(|(_, ev)| matches!(ev, Some(Event::LoginAccepted))), "a login was lost");
    let (s, started) = server.post(&format!("/api/v1/piles/{}/ports/1/start", ids[0]), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let session = started["session_id"].as_str().unwrap().to_owned();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;

    // Every link drops at once (a network outage) and every pile comes back.
    drop(first);
    let second = storm().await;
    assert!(second.iter().all(|(_, ev)| matches!(ev, Some(Event::LoginAccepted))), "a login was lost");
    assert_eq!(server.metric("chargeplane_logins_total{protocol=\"ykc\",result=\"accepted\"}").await, 80.0);
    let (_, open) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(open["state"], "charging", "{open}");
    server.until(&format!("/api/v1/piles/{}", ids[39]), |v| v["online"] == true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_actor_that_panics_is_restarted_and_its_charge_carries_on() {
    let server = Server::start();
    let (a, b) = ("20000000000010", "20000000000011");
    let station = server.station_with_pile(a, 1).await;
    server.register(b, station, 1).await;
    let mut pile_a = login(&server, cfg(a)).await;
    let mut pile_b = login(&server, cfg(b)).await;
    let mut sessions = Vec::new();
    for (id, pile) in [(a, &mut pile_a), (b, &mut pile_b)] {
        let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
        assert_eq!(s, 202, "{v}");
        pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
        let session = v["session_id"].as_str().unwrap().to_owned();
        server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
        sessions.push(session);
    }

    // A bug panics inside port 1 of pile A.
    let platform = &server.bg.as_ref().unwrap().platform;
    let actor = platform.registry.pile(&PileId(a.into())).unwrap();
    actor.send(actors::pile::CrashPort(vocab::PortNo(1))).await.unwrap();

    // The pile's next frames restart the port, which takes its charge back.
    pile_a.set_energy(1, rust_decimal_macros::dec!(3));
    let deadline = Instant::now() + WAIT;
    loop {
        pile_a.send_realtime(1);
        let (_, s) = server.get(&format!("/api/v1/sessions/{}", sessions[0])).await;
        if s["kwh"].as_str() == Some("3.0000") {
            break;
        }
        assert!(Instant::now() < deadline, "the charge did not carry on: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.metric("chargeplane_actor_restarts_total{kind=\"port\"}").await, 1.0);

    // The other pile never noticed.
    pile_b.set_energy(1, rust_decimal_macros::dec!(2));
    pile_b.send_realtime(1);
    server.until(&format!("/api/v1/sessions/{}", sessions[1]), |v| v["kwh"] == "2.0000").await;

    // And the restarted port still stops and bills its charge.
    let (s, v) = server.post(&format!("/api/v1/piles/{a}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    pile_a.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    let done = server.until(&format!("/api/v1/sessions/{}", sessions[0]), |v| v["state"] == "finished").await;
    assert_eq!(done["bill"]["total"], "4.50", "3 kWh at 1.50: {done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counts_connected_piles_as_the_gauge_does_and_readiness_asks_the_store() {
    let server = Server::start();
    let id = "60000000000031";
    server.station_with_pile(id, 2).await;
    let health = || async { server.http.get(format!("{}/healthz", server.base)).send().await.unwrap() };
    let connected = "chargeplane_piles_connected{protocol=\"ykc\"}";

    let pile = login(&server, cfg(id)).await;
    let h: serde_json::Value = health().await.json().await.unwrap();
    assert_eq!((h["piles_connected"].as_i64(), server.metric(connected).await), (Some(1), 1.0), "{h}");
    let accepts = server.metric("chargeplane_pile_accepts_total").await;
    assert!(accepts >= 1.0);
    assert_eq!(h["pile_listener"], json!({"accepts": accepts as u64, "accept_errors": 0}), "{h}");

    // Gone: the pile's actor stays for its state, but it is not connected.
    drop(pile);
    server.until(&format!("/api/v1/piles/{id}"), |p| p["online"] == false).await;
    let h: serde_json::Value = health().await.json().await.unwrap();
    assert_eq!((h["piles_connected"].as_i64(), server.metric(connected).await), (Some(0), 0.0), "{h}");
    assert_eq!(h["pile_actors"].as_i64(), Some(1), "{h}");

    let ready = server.http.get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap(), json!({"ready": true}));
}
