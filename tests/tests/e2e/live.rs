//! Server-sent events: an operator's page sees a port change state without
//! polling, and a driver follows their own charge until it is billed (and
//! cannot follow anyone else's).

use crate::common;

use std::time::Duration;

use common::{dec, Server};
use loadtest::ykc_pile::Event;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// An open event stream and what has arrived of it.
pub(crate) struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(server: &Server, token: &str, path: &str) -> Events {
        Events::at(&server.http, &server.base, token, path).await
    }

    /// The stream at `base` (any server's).
    pub(crate) async fn at(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Events {
        let res = http.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Events { res, buf: String::new() }
    }

    /// A response header, such as the node that answered.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The next event's data, or `None` when the stream has ended.
    pub(crate) async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                match block.strip_prefix("data: ") {
                    Some(data) => return Some(serde_json::from_str(data.trim()).unwrap()),
                    None => continue, // a keep-alive comment
                }
            }
            let chunk =
                tokio::time::timeout(WAIT, self.res.chunk()).await.expect("an event in time").unwrap()?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The first event `pred` accepts (within `WAIT`, keep-alives or not).
    pub(crate) async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let e = self.next().await.expect("the stream ended early");
                if pred(&e) {
                    return e;
                }
                seen.push(e);
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no such event; saw {seen:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_and_drivers_follow_ports_and_charges_live() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.live_keepalive_ms = 50;
    });
    let id = "70000000000001";
    let station = server.station_with_pile(id, 1).await;
    let mut ports =
        Events::open(&server, &server.admin, &format!("/api/v1/events?station_id={station}")).await;

    let mut pile = server.ykc_pile(id, 1).await;
    pile.plug(1, true);
    pile.send_realtime(1);
    let plugged = ports.until(|e| e["status"] == "plugged").await;
    assert_eq!(
        (plugged["kind"].as_str(), plugged["pile_id"].as_str(), plugged["port"].as_u64()),
        (Some("port"), Some(id), Some(1))
    );

    let (_, token) = server.driver(&codes, "13900000051", "50.00").await;
    let (_, stranger) = server.driver(&codes, "13900000052", "1.00").await;
    let (s, started) = server.post_as(&token, "/api/v1/me/charges", json!({"pile_id": id, "port": 1})).await;
    assert_eq!(s, 202, "{started}");
    let session = started["session_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/me/charges/{session}/events");
    let res = server.http.get(format!("{}{path}", server.base)).bearer_auth(&stranger).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404, "someone else's charge");
    let mut charge = Events::open(&server, &token, &path).await;

    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    ports.until(|e| e["status"] == "charging" && e["session_id"] == session.as_str()).await;
    pile.set_energy(1, dec!(4));
    pile.send_realtime(1);
    let progress = charge.until(|e| e["kwh"].as_str().is_some_and(|k| dec(&json!(k)) > dec!(0))).await;
    assert_eq!(
        (progress["state"].as_str(), dec(&progress["amount"])),
        (Some("charging"), dec!(6.00)),
        "{progress}"
    );

    server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    let done = charge.until(|e| e["state"] == "finished").await;
    assert_eq!(dec(&done["amount"]), dec!(6.00), "the bill's total: {done}");
    assert!(charge.next().await.is_none(), "the stream ends with the charge");
}
