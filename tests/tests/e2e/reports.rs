//! Reports end to end: charges run through simulated YKC piles show up in
//! the operations and energy reports, as JSON and as a CSV download, with
//! the sums of their bills; a pile's fault in the faults report; idle
//! drivers in theirs; and bad parameters are refused with a JSON error
//! naming the parameter.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{dec, Server, YkcMessages};
use loadtest::ykc_pile::{Event, SimPile};
use proto::ykc;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use vocab::{PileId, SessionId};

const WAIT: Duration = Duration::from_secs(10);

/// Charges `kwh` on gun 1 and returns the bill.
async fn charge(server: &Server, pile: &mut SimPile, id: &str, kwh: Decimal) -> Value {
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
    pile.set_energy(1, kwh);
    pile.send_realtime(1);
    server
        .until(&format!("/api/v1/sessions/{session}"), |v| {
            v["kwh"].as_str().is_some_and(|k| dec(&json!(k)) == kwh)
        })
        .await;
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    server.get(&format!("/api/v1/sessions/{session}/bill")).await.1
}

/// GET as the admin: status, content type, content disposition and body.
async fn download(server: &Server, path: &str) -> (u16, String, String, String) {
    let res =
        server.http.get(format!("{}{path}", server.base)).bearer_auth(&server.admin).send().await.unwrap();
    let header =
        |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (status, kind, disposition) =
        (res.status().as_u16(), header("content-type"), header("content-disposition"));
    (status, kind, disposition, res.text().await.unwrap())
}

/// A CSV body's lines after the header, split into cells.
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn sum(bills: &[&Value], field: &str) -> Decimal {
    bills.iter().map(|b| dec(&b[field])).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charges_and_faults_are_reported_as_json_and_as_csv_downloads() {
    // Noon on 1 March at the stations (+08:00).
    let start: DateTime<Utc> = "2026-03-01T04:00:00Z".parse().unwrap();
    let server = Server::start_with(|c| c.clock_start = Some(start));
    let (a, b) = ("70000000000001", "70000000000002");
    let (here, there) = (server.station_with_pile(a, 1).await, server.station_with_pile(b, 1).await);
    let (mut pa, mut pb) = (server.ykc_pile(a, 1).await, server.ykc_pile(b, 1).await);
    let first = charge(&server, &mut pa, a, dec!(10)).await;
    let second = charge(&server, &mut pa, a, dec!(2.5)).await;
    let elsewhere = charge(&server, &mut pb, b, dec!(4)).await;
    let period = "from=2026-03-01&until=2026-03-02";

    // JSON: a row per station and day, with the sums of its bills.
    let (s, ops) = server.get(&format!("/api/v1/reports/operations?{period}")).await;
    assert_eq!(s, 200, "{ops}");
    let ops = ops.as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    for (row, station, bills) in [(&ops[0], here, vec![&first, &second]), (&ops[1], there, vec![&elsewhere])]
    {
        assert_eq!((row["station_id"].as_i64(), row["day"].as_str()), (Some(station), Some("2026-03-01")));
        assert_eq!(row["charges"].as_u64(), Some(bills.len() as u64));
        assert_eq!(dec(&row["kwh"]), sum(&bills, "kwh"));
        assert_eq!(dec(&row["revenue"]), sum(&bills, "total"));
        let seconds: u64 = bills.iter().map(|b| b["seconds"].as_u64().unwrap()).sum();
        assert_eq!(row["seconds"].as_u64(), Some(seconds));
    }

    // CSV of one station: a download with the same figures.
    let (s, kind, disposition, csv) =
        download(&server, &format!("/api/v1/reports/operations?{period}&station_id={here}&format=csv")).await;
    assert_eq!(s, 200, "{csv}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert_eq!(disposition, "attachment; filename=\"operations_2026-03-01_2026-03-02.csv\"");
    assert!(csv.starts_with("station_id,day,charges,seconds,kwh,revenue\r\n"), "{csv}");
    let lines = rows(&csv);
    assert_eq!(lines.len(), 1, "{csv}");
    let line = &lines[0];
    assert_eq!(line[..3], [here.to_string(), "2026-03-01".into(), "2".into()]);
    assert_eq!(line[3], ops[0]["seconds"].to_string());
    let cell = |i: usize| line[i].parse::<Decimal>().unwrap();
    assert_eq!((cell(4), cell(5)), (sum(&[&first, &second], "kwh"), sum(&[&first, &second], "total")));

    // Energy by period: the flat tariff puts it all in "flat", at 1.50 a kWh.
    let (s, _, _, csv) = download(&server, &format!("/api/v1/reports/energy?{period}&format=csv")).await;
    assert_eq!(s, 200, "{csv}");
    assert!(csv.starts_with("station_id,day,period,kwh,amount\r\n"), "{csv}");
    let energy = rows(&csv);
    assert_eq!(energy.len(), 2, "{csv}");
    for (line, station, kwh) in [(&energy[0], here, dec!(12.5)), (&energy[1], there, dec!(4))] {
        assert_eq!(line[..3], [station.to_string(), "2026-03-01".into(), "flat".into()]);
        let (got_kwh, amount) = (line[3].parse::<Decimal>().unwrap(), line[4].parse::<Decimal>().unwrap());
        assert_eq!((got_kwh, amount), (kwh, kwh * dec!(1.5)));
    }
    let (s, json) = server.get(&format!("/api/v1/reports/energy?{period}&station_id={there}")).await;
    assert_eq!((s, json[0]["period"].as_str()), (200, Some("flat")), "{json}");
    assert_eq!(dec(&json[0]["kwh"]), dec!(4));

    // The next day has nothing yet.
    let (s, none) = server.get("/api/v1/reports/operations?from=2026-03-02&until=2026-03-03").await;
    assert_eq!((s, none), (200, json!([])));

    // A fault at pile a (its door open) is counted in the faults report.
    pa.send_msg(fault(a));
    server
        .until(&format!("/api/v1/alarms?pile_id={a}"), |v| {
            v.as_array().is_some_and(|l| l.iter().any(|x| x["kind"] == "door_open"))
        })
        .await;
    let (s, _, disposition, csv) =
        download(&server, &format!("/api/v1/reports/faults?{period}&station_id={here}&format=csv")).await;
    assert_eq!(s, 200, "{csv}");
    assert_eq!(disposition, "attachment; filename=\"faults_2026-03-01_2026-03-02.csv\"");
    assert_eq!(csv, format!("station_id,pile_id,kind,alarms\r\n{here},{a},door_open,1\r\n"));
    let (_, faults) = server.get(&format!("/api/v1/reports/faults?{period}&station_id={there}")).await;
    assert_eq!(faults, json!([]));
}

/// A real-time frame from an idle gun reporting its door open (Bit13).
fn fault(id: &str) -> ykc::Message {
    ykc::Message::RealTime(ykc::RealTime {
        serial: SessionId("0".repeat(32)),
        pile: PileId(id.into()),
        gun: 1,
        status: 2,
        holstered: 1,
        plugged: false,
        voltage: dec!(0),
        current: dec!(0),
        cable_temp: 30,
        cable_code: [0; 8],
        soc: 0,
        battery_max_temp: 25,
        minutes_charged: 0,
        minutes_left: 0,
        kwh: dec!(0),
        loss_kwh: dec!(0),
        amount: dec!(0),
        hardware_faults: 1 << 12,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_drivers_are_listed_longest_idle_first() {
    let server = Server::start();
    let store = server.bg.as_ref().unwrap().platform.store.clone();
    let idle_since = |days: i64| Utc::now() - chrono::Duration::days(days);
    let mut ids = Vec::new();
    // A class a spreadsheet would run as a formula.
    for (phone, days) in [("13900000001", 40), ("13900000002", 400), ("13900000003", 1)] {
        let mut d = store.create_driver(phone, None, Some("=1+2")).await.unwrap();
        d.last_active_at = idle_since(days);
        store.update_driver(&d).await.unwrap();
        ids.push(d.id);
    }
    let (s, json) = server.get("/api/v1/reports/inactive-drivers?days=30").await;
    assert_eq!(s, 200, "{json}");
    let listed: Vec<_> = json.as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, [ids[1], ids[0]]);
    let (s, kind, disposition, csv) =
        download(&server, "/api/v1/reports/inactive-drivers?days=30&format=csv").await;
    assert_eq!(s, 200, "{csv}");
    assert!(
        kind.starts_with("text/csv") && disposition.starts_with("attachment; filename="),
        "{disposition}"
    );
    let cells: Vec<_> = rows(&csv).into_iter().map(|r| (r[1].clone(), r[2].clone())).collect();
    let defused = || "'=1+2".to_owned();
    assert_eq!(cells, [("13900000002".into(), defused()), ("13900000001".into(), defused())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_parameters_are_refused_naming_the_parameter() {
    let server = Server::start();
    let station = server.station_with_pile("70000000000009", 1).await;
    let ok = "from=2026-03-01&until=2026-03-08";
    for (query, field) in [
        ("until=2026-03-08".to_owned(), "from"),
        ("from=2026-3-1x&until=2026-03-08".to_owned(), "from"),
        ("from=2026-03-08&until=2026-03-08".to_owned(), "until"),
        ("from=2025-01-01&until=2026-03-08".to_owned(), "until"),
        (format!("{ok}&format=xlsx"), "format"),
        (format!("{ok}&station_id=abc"), "station_id"),
        (format!("{ok}&station_id={}", station + 1000), "station_id"),
        (format!("{ok}&merchant_id=424242"), "merchant_id"),
    ] {
        for report in ["operations", "energy", "faults"] {
            let (s, e) = server.get(&format!("/api/v1/reports/{report}?{query}")).await;
            assert_eq!(
                (s, e["error"].as_str(), e["field"].as_str()),
                (422, Some("invalid"), Some(field)),
                "{query}: {e}"
            );
        }
    }
    let (s, e) = server.get(&format!("/api/v1/reports/operations?{ok}&colour=red")).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_request")), "{e}");
    for (query, field) in
        [("days=0", "days"), ("days=ten", "days"), ("limit=0", "limit"), ("format=pdf", "format")]
    {
        let (s, e) = server.get(&format!("/api/v1/reports/inactive-drivers?{query}")).await;
        assert_eq!((s, e["field"].as_str()), (422, Some(field)), "{query}: {e}");
    }
    // Staff only: no token, no report.
    let res =
        server.http.get(format!("{}/api/v1/reports/operations?{ok}", server.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
}
