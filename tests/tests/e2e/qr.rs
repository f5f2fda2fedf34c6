//! The drivers' app: stations near a point, nearest first with their free
//! ports; and scan to charge: a port's printed QR code resolves, without
//! logging in, to the port and how to start it; the driver starts it and
//! finds the charge, billed, in their history.

use crate::common;

use std::time::Duration;

use common::Server;
use loadtest::ykc_pile::Event;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_code_resolves_starts_and_lands_in_history() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let id = "70000000000002";
    server.station_with_pile(id, 2).await;
    let mut pile = server.ykc_pile(id, 2).await;

    // The operator prints port 2's code.
    let res = server
        .http
        .get(format!("{}/api/v1/piles/{id}/ports/2/qr.svg", server.base))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let url = res.headers()["x-qr-url"].to_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/q/{id}-02")), "{url}");
    assert!(res.text().await.unwrap().contains("<svg"));

    // The app resolves what the camera read, with no login.
    let code = url.rsplit('/').next().unwrap().to_owned();
    let resolved: Value = server
        .http
        .get(format!("{}/api/v1/q/{code}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((resolved["pile_id"].as_str(), resolved["port"].as_u64()), (Some(id), Some(2)), "{resolved}");
    assert_eq!(resolved["online"], true);
    let unknown = server.http.get(format!("{}/api/v1/q/{id}-09", server.base)).send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let (_, token) = server.driver(&codes, "13900000061", "20.00").await;
    let start = resolved["start"]["path"].as_str().unwrap();
    let (s, started) = server.post_as(&token, start, resolved["start"]["body"].clone()).await;
    assert_eq!(s, 202, "{started}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    pile.set_energy(2, rust_decimal_macros::dec!(2));
    pile.send_realtime(2);
    server.post(&format!("/api/v1/piles/{id}/ports/2/stop"), json!({})).await;
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();

    let (s, history) = server.get_as(&token, "/api/v1/me/charges").await;
    assert_eq!(s, 200, "{history}");
    let charges = history.as_array().unwrap();
    assert_eq!(charges.len(), 1, "{history}");
    assert_eq!(charges[0]["session"]["id"], started["session_id"]);
    assert_eq!(charges[0]["bill"]["total"], "3.00", "2 kWh at 1.50: {history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_near_a_point_come_nearest_first_with_free_ports() {
    let server = Server::start();
    let details = |address: &str, lat: &str, lon: &str| json!({"address": address, "lat": lat, "lon": lon, "opening_hours": "24h", "photos": []});
    // A: 2.2 km from the point, with a YKC pile of two guns online.
    let id = "70000000000003";
    let a = server.station_with_pile(id, 2).await;
    let res = server
        .http
        .put(format!("{}/api/v1/stations/{a}/details", server.base))
        .bearer_auth(&server.admin)
        .json(&details("Confucius Temple", "32.0222", "118.7886"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let _pile = server.ykc_pile(id, 2).await;
    // B at the point itself, C in Shanghai.
    let (_, tariff) = server.get(&format!("/api/v1/stations/{a}")).await;
    let station =
        |name: &str, d: Value| json!({"name": name, "tariff_id": tariff["tariff_id"], "details": d});
    let (s, b) = server
        .post("/api/v1/stations", station("Xinjiekou", details("Xinjiekou", "32.0415", "118.7848")))
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, _) =
        server.post("/api/v1/stations", station("Bund", details("The Bund", "31.2304", "121.4737"))).await;
    assert_eq!(s, 201);
    let (s, bad) = server.post("/api/v1/stations", station("Nowhere", details("x", "91", "0"))).await;
    assert_eq!((s, bad["field"].as_str()), (422, Some("lat")), "{bad}");

    // Drivers search without logging in.
    let url = format!("{}/api/v1/stations/near?lat=32.0415&lon=118.7848&radius_km=5", server.base);
    let found: Value = server.http.get(url).send().await.unwrap().json().await.unwrap();
    let found = found.as_array().unwrap();
    let ids: Vec<_> = found.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![b["id"].as_i64().unwrap(), a], "nearest first, Shanghai left out: {found:?}");
    assert_eq!(found[0]["distance_m"], 0);
    let d = found[1]["distance_m"].as_u64().unwrap();
    assert!((2_100..2_300).contains(&d), "{d}");
    assert_eq!((found[1]["ports_free"].as_u64(), found[1]["ports_online"].as_u64()), (Some(2), Some(2)));
    assert_eq!(found[1]["details"]["address"], "Confucius Temple");
    let bad =
        server.http.get(format!("{}/api/v1/stations/near?lat=95&lon=0", server.base)).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 422);
}
