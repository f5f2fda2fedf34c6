//! Editing what an operator set up, and taking it out of service: a
//! station's fees change for the next charge, a broken port or a closed
//! station refuses starts, a decommissioned pile is hung up on and refused
//! at login, a retired tariff cannot be given to a new station.

use std::time::Duration;

use crate::common;

use common::{dec, Server};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use serde_json::json;
use vocab::PileId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_edited_and_taken_out_of_service() {
    let server = Server::start();
    let id = "52000000000001";
    let station = server.station_with_pile(id, 3).await;
    let _pile = server.ykc_pile(id, 3).await;
    let path = format!("/api/v1/stations/{station}");

    // Edits: what a PATCH names changes, the rest stays; bad values are refused.
    let (s, st) = server.post_patch(&path, json!({"name": "Renamed", "service_fee": "0.30"})).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!((st["name"].as_str(), dec(&st["service_fee"])), (Some("Renamed"), dec(&json!("0.30"))));
    assert_eq!((st["utc_offset_minutes"].as_i64(), st["in_service"].as_bool()), (Some(480), Some(true)));
    let (_, got) = server.get(&path).await;
    assert_eq!(got["name"], "Renamed");
    for (body, field) in [
        (json!({"service_fee": "-1"}), "service_fee"),
        (json!({"name": " "}), "name"),
        (json!({"utc_offset_minutes": 9999}), "utc_offset_minutes"),
        (json!({"merchant_id": 999}), "merchant_id"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (s, e) = server.post_patch(&path, body.clone()).await;
        assert_eq!((s, e["field"].as_str()), (422, Some(field)), "{body}: {e}");
    }
    let (_, t) = server.get(&format!("/api/v1/tariffs/{}", got["tariff_id"])).await;
    let tariff_path = format!("/api/v1/tariffs/{}", t["id"]);
    let (s, e) = server.post_patch(&tariff_path, json!({"prices": t["prices"]})).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("periods")), "{e}");
    let (s, t2) = server.post_patch(&tariff_path, json!({"name": "Night and day"})).await;
    assert_eq!((s, t2["name"].as_str(), &t2["prices"]), (200, Some("Night and day"), &t["prices"]), "{t2}");

    // A broken port refuses starts; the others charge.
    let start = |port: u8| format!("/api/v1/piles/{id}/ports/{port}/start");
    let (s, p) =
        server.post_patch(&format!("/api/v1/piles/{id}/ports/1"), json!({"in_service": false})).await;
    assert_eq!((s, &p["ports_out_of_service"]), (200, &json!([1])), "{p}");
    let (s, e) = server.post(&start(1), json!({})).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("out_of_service")), "{e}");
    let (s, e) = server.post(&start(2), json!({})).await;
    assert_eq!(s, 202, "{e}");
    // Drivers see it before they scan, without logging in.
    let (s, seen) = server.call(None, "GET", &format!("/api/v1/stations/{station}/ports"), json!(null)).await;
    assert_eq!(s, 200, "{seen}");
    let ports = &seen["piles"][0]["ports"];
    assert_eq!(
        (&ports[0]["code"], &ports[0]["in_service"]),
        (&json!(format!("{id}-01")), &json!(false)),
        "{seen}"
    );
    assert_eq!((&ports[2]["status"], &ports[2]["in_service"]), (&json!("idle"), &json!(true)), "{seen}");
    assert!(seen["prices"]["tariff"]["periods"].is_array() && ports[1].get("session_id").is_none(), "{seen}");

    // A closed station refuses starts at every port and shows as closed.
    let (s, st) = server.post_patch(&path, json!({"in_service": false})).await;
    assert_eq!((s, st["in_service"].as_bool()), (200, Some(false)), "{st}");
    let (s, e) = server.post(&start(3), json!({})).await;
    assert_eq!((s, e["message"].as_str()), (409, Some("the station is out of service")), "{e}");
    let (_, listed) = server.get("/api/v1/stations").await;
    assert_eq!(listed["items"][0]["in_service"], false, "{listed}");
    server.post_patch(&path, json!({"in_service": true})).await;
    let (s, e) = server.post(&start(3), json!({})).await;
    assert_eq!(s, 202, "back in service: {e}");

    // A retired tariff cannot be given to a new station.
    let (s, _) = server.post_patch(&tariff_path, json!({"in_service": false})).await;
    assert_eq!(s, 200);
    let (s, e) = server.post("/api/v1/stations", json!({"name": "New", "tariff_id": t["id"]})).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("tariff_id")), "{e}");

    // A decommissioned pile is hung up on, and refused when it comes back.
    let (s, p) = server.post_patch(&format!("/api/v1/piles/{id}"), json!({"in_service": false})).await;
    assert_eq!((s, p["in_service"].as_bool()), (200, Some(false)), "{p}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == false).await;
    let mut cfg = PileConfig::new(PileId(id.into()), 3);
    cfg.heartbeat = Duration::from_millis(500);
    let mut again = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    let ev = again
        .wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused | Event::Closed), common::WAIT)
        .await;
    assert!(!matches!(ev, Some(Event::LoginAccepted)), "a pile out of service stays out: {ev:?}");
}
