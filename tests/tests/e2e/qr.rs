//! Scan to charge: a port's printed QR code resolves, without logging in,
//! to the port and how to start it; the driver starts it and finds the
//! charge, billed, in their history.

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
