//! The database refusing a write, for real: a trigger added to the server's
//! own SQLite file makes the bill insert fail, as a full disk or a broken
//! constraint would. The charge must not be lost, acknowledged, or billed
//! twice once the database takes writes again.

use crate::common::{dec, Server, WAIT};

use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use rust_decimal_macros::dec;
use serde_json::json;
use vocab::PileId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_the_database_refuses_is_alarmed_unacknowledged_and_billed_once_on_the_resend() {
    let server = Server::start();
    let id = "60000000000021";
    server.station_with_pile(id, 1).await;
    let mut cfg = PileConfig::new(PileId(id.into()), 1);
    (cfg.realtime, cfg.record_retry) =
        (std::time::Duration::from_secs(3600), std::time::Duration::from_millis(300));
    let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();

    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/sessions/{session}");
    server.until(&path, |v| v["state"] == "charging").await;
    pile.set_energy(1, dec!(10));
    pile.send_realtime(1);
    server.until(&path, |v| v["kwh"].as_str().is_some_and(|k| dec(&json!(k)) == dec!(10))).await;

    let db = rusqlite::Connection::open(server.data_dir().join("chargeplane.db")).unwrap();
    db.busy_timeout(WAIT).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_bills BEFORE INSERT ON bills BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    assert_eq!(server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await.0, 202);

    // The write fails: counted, alarmed once, the record left unacknowledged
    // and the charge still open (the pile keeps resending it).
    while server.metric("chargeplane_bill_write_failures_total").await < 2.0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let alarms = server
        .until(&format!("/api/v1/alarms?pile_id={id}"), |l| {
            l.as_array().is_some_and(|l| l.iter().any(|a| a["kind"] == "billing"))
        })
        .await;
    let billing: Vec<_> = alarms.as_array().unwrap().iter().filter(|a| a["kind"] == "billing").collect();
    assert_eq!(billing.len(), 1, "one alarm, not one per resend: {alarms}");
    assert_eq!(billing[0]["severity"], "major");
    let (_, open) = server.get(&path).await;
    assert_ne!(open["state"], "finished", "{open}");
    assert_eq!(server.get(&format!("{path}/bill")).await.0, 404);

    // The database takes writes again: the next resend bills it, once.
    db.execute_batch("DROP TRIGGER refuse_bills;").unwrap();
    pile.wait_for(|e| matches!(e, Event::RecordAcked { invalid: false, .. }), WAIT).await.unwrap();
    let done = server.until(&path, |v| v["state"] == "finished").await;
    assert_eq!(dec(&done["bill"]["total"]), dec!(15.00), "{done}");
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_duplicate_records_total").await, 0.0);
}
