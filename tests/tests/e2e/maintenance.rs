//! Remote maintenance over HTTP: every command ends acknowledged, refused or
//! timed out, and that is visible over HTTP and in metrics.

use crate::common;

use std::time::Duration;

use chrono::Timelike;

use common::{ykc_msg, Server, YkcMessages};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use proto::ykc::{self, Message};
use serde_json::{json, Value};
use vocab::PileId;

const WAIT: Duration = Duration::from_secs(5);

async fn outcome(server: &Server, pile: &str, id: i64, want: &str) -> Value {
    server.until(&format!("/api/v1/piles/{pile}/commands/{id}"), |v| v["outcome"] == want).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_commands_end_acknowledged_refused_or_timed_out() {
    let server = Server::start_with(|c| c.command_timeout_ms = 300);
    let id = "50000000000001";
    server.station_with_pile(id, 2).await;
    let mut pile = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 2)).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    let url = format!("/api/v1/piles/{id}/commands");
    let post = |body: Value| server.post(&url, body);

    // Time sync, answered by the pile: acknowledged.
    let (s, sync) = post(json!({"kind": "time_sync"})).await;
    assert_eq!((s, sync["outcome"].as_str()), (202, Some("pending")), "{sync}");
    let ev = pile.wait_for(|e| matches!(ykc_msg(e), Some(Message::TimeSync(_))), WAIT).await;
    let Some(Message::TimeSync(asked)) = ev.as_ref().and_then(ykc_msg) else {
        panic!("no time sync: {ev:?}")
    };
    pile.send_msg(Message::TimeSyncResult(ykc::TimeSyncResult { pile: asked.pile, time: asked.time }));
    let done = outcome(&server, id, sync["id"].as_i64().unwrap(), "acknowledged").await;
    assert!(done["finished_at"].is_string() && done["detail"].as_str().unwrap().contains("clock"), "{done}");

    // Live data now: the pile answers 0x12 with a real-time frame.
    let (s, refresh) = post(json!({"kind": "refresh", "port": 2})).await;
    assert_eq!(s, 202, "{refresh}");
    outcome(&server, id, refresh["id"].as_i64().unwrap(), "acknowledged").await;

    // A firmware upgrade the pile cannot download: refused, with its reason.
    let (s, fw) = post(
        json!({"kind": "firmware", "url": "ftp://ops:secret@10.0.0.5:2121/fw/v2.bin", "when_idle": true}),
    )
    .await;
    assert_eq!(s, 202, "{fw}");
    let ev = pile.wait_for(|e| matches!(ykc_msg(e), Some(Message::FirmwareUpgrade(_))), WAIT).await;
    let Some(Message::FirmwareUpgrade(up)) = ev.as_ref().and_then(ykc_msg) else {
        panic!("no upgrade: {ev:?}")
    };
    assert_eq!((up.server.as_str(), up.port, up.path.as_str()), ("10.0.0.5", 2121, "/fw/v2.bin"));
    let failed =
        ykc::FirmwareUpgradeResult { pile: up.pile, status: ykc::FirmwareUpgradeResult::DOWNLOAD_TIMEOUT };
    pile.send_msg(Message::FirmwareUpgradeResult(failed));
    let done = outcome(&server, id, fw["id"].as_i64().unwrap(), "refused").await;
    assert!(done["detail"].as_str().is_some_and(|d| !d.is_empty()), "{done}");

    // A reboot the pile never answers: timed out.
    let (s, reboot) = post(json!({"kind": "reboot", "when_idle": false})).await;
    assert_eq!(s, 202, "{reboot}");
    let (s, again) = post(json!({"kind": "reboot", "when_idle": false})).await;
    assert_eq!((s, again["error"].as_str()), (409, Some("command_in_progress")), "{again}");
    outcome(&server, id, reboot["id"].as_i64().unwrap(), "timed_out").await;
    let timed_out = "chargeplane_maintenance_commands_total{kind=\"reboot\",outcome=\"timed_out\"}";
    assert_eq!(server.metric(timed_out).await, 1.0);
    assert_eq!(
        server
            .metric("chargeplane_maintenance_commands_total{kind=\"time_sync\",outcome=\"acknowledged\"}")
            .await,
        1.0
    );

    // What the protocol cannot carry is refused before it is sent.
    let (s, e) = post(json!({"kind": "work_params", "enabled": true, "max_power_percent": 20})).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("kind")), "{e}");
    let (s, e) =
        post(json!({"kind": "firmware", "url": "https://example.com/fw.bin", "when_idle": true})).await;
    assert_eq!(s, 422, "{e}");
    let (s, e) = post(json!({"kind": "launch"})).await;
    assert_eq!((s, e["error"].as_str()), (422, Some("invalid")), "{e}");

    let (_, all) = server.get(&format!("/api/v1/piles/{id}/commands")).await;
    let outcomes: Vec<&str> =
        all.as_array().unwrap().iter().map(|c| c["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["timed_out", "refused", "acknowledged", "acknowledged"], "newest first");

    // An offline pile takes no commands.
    pile.close();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == false).await;
    let (s, e) = post(json!({"kind": "time_sync"})).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("pile_offline")), "{e}");
}

/// Which frame a command arrives as, and the pile's answer to it.
type Asked = fn(&Message) -> bool;
type Answer = Box<dyn Fn() -> Message>;

/// Every kind of command, answered by the pile: acknowledged; and sent
/// again and left unanswered: timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_kind_is_acknowledged_when_answered_and_times_out_when_not() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.command_timeout_ms = 300;
        c.notify_webhook = Some(hook);
    });
    let id = "50000000000002";
    server.station_with_pile(id, 1).await;
    let mut pile = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 1)).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    let (driver, _) = server.driver(&codes, "13900000044", "10.00").await;
    let card = json!({"number": "00000000000000c1", "kind": "physical"});
    assert_eq!(server.post(&format!("/api/v1/drivers/{driver}/cards"), card).await.0, 201);
    let url = format!("/api/v1/piles/{id}/commands");
    let p = || PileId(id.into());

    // A card with no account is not put on a pile's offline list.
    let (s, bad) =
        server.post(&url, json!({"kind": "offline_cards_sync", "cards": ["00000000000000C2"]})).await;
    assert_eq!((s, bad["field"].as_str()), (422, Some("cards")), "{bad}");

    let kinds: Vec<(Value, Asked, Answer)> = vec![
        (
            json!({"kind": "time_sync"}),
            |m| matches!(m, Message::TimeSync(_)),
            Box::new(move || {
                Message::TimeSyncResult(ykc::TimeSyncResult {
                    pile: p(),
                    time: chrono::Utc::now().naive_utc().with_nanosecond(0).unwrap(),
                })
            }),
        ),
        (
            json!({"kind": "work_params", "enabled": true, "max_power_percent": 60}),
            |m| matches!(m, Message::WorkParams(_)),
            Box::new(move || Message::WorkParamsResult(ykc::WorkParamsResult { pile: p(), ok: true })),
        ),
        (
            json!({"kind": "reboot", "when_idle": true}),
            |m| matches!(m, Message::Reboot(_)),
            Box::new(move || Message::RebootResult(ykc::RebootResult { pile: p(), ok: true })),
        ),
        (
            json!({"kind": "firmware", "url": "ftp://ops:pw@10.0.0.5:21/fw.bin", "when_idle": true}),
            |m| matches!(m, Message::FirmwareUpgrade(_)),
            Box::new(move || {
                let status = ykc::FirmwareUpgradeResult::SUCCESS;
                Message::FirmwareUpgradeResult(ykc::FirmwareUpgradeResult { pile: p(), status })
            }),
        ),
        (
            json!({"kind": "qr_prefix", "prefix": "https://cp.example/q/", "per_gun": true}),
            |m| matches!(m, Message::QrPrefix(_)),
            Box::new(move || Message::QrPrefixResult(ykc::QrPrefixResult { pile: p(), ok: true })),
        ),
        (
            json!({"kind": "offline_cards_sync", "cards": ["00000000000000c1"]}),
            |m| matches!(m, Message::OfflineCardSync(s) if s.cards[0].physical_card == [0, 0, 0, 0, 0, 0, 0, 0xC1]),
            Box::new(move || {
                let ok = ykc::OfflineCardSyncResult { pile: p(), ok: true, reason: 0 };
                Message::OfflineCardSyncResult(ok)
            }),
        ),
        (
            json!({"kind": "offline_cards_clear", "cards": ["00000000000000C1"]}),
            |m| matches!(m, Message::OfflineCardClear(c) if c.cards == vec![[0, 0, 0, 0, 0, 0, 0, 0xC1]]),
            Box::new(move || {
                let removed =
                    ykc::CardRemoval { physical_card: [0, 0, 0, 0, 0, 0, 0, 0xC1], ok: true, reason: 0 };
                Message::OfflineCardClearResult(ykc::OfflineCardClearResult {
                    pile: p(),
                    cards: vec![removed],
                })
            }),
        ),
    ];
    for (body, asked, answer) in kinds {
        let kind = body["kind"].as_str().unwrap().to_owned();
        let (s, cmd) = server.post(&url, body.clone()).await;
        assert_eq!(s, 202, "{kind}: {cmd}");
        let ev = pile.wait_for(|e| ykc_msg(e).is_some_and(|m| asked(&m)), WAIT).await;
        assert!(ev.is_some(), "{kind} never reached the pile");
        pile.send_msg(answer());
        outcome(&server, id, cmd["id"].as_i64().unwrap(), "acknowledged").await;

        let (s, again) = server.post(&url, body).await;
        assert_eq!(s, 202, "{kind}: {again}");
        pile.wait_for(|e| ykc_msg(e).is_some_and(|m| asked(&m)), WAIT).await.unwrap();
        outcome(&server, id, again["id"].as_i64().unwrap(), "timed_out").await;
        let acked =
            format!("chargeplane_maintenance_commands_total{{kind=\"{kind}\",outcome=\"acknowledged\"}}");
        assert_eq!(server.metric(&acked).await, 1.0, "{kind}");
    }
}
