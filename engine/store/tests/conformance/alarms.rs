//! Alarms every backend must keep: raised, listed, acknowledged and cleared.

use super::{site, t, Db, Site, MISSING};
use domain::alarm::{AlarmFilter, NewAlarm};
use vocab::{PortNo, Severity};

pub async fn run(db: &Db) {
    alarms_are_raised_listed_acknowledged_and_cleared(db).await;
}

async fn alarms_are_raised_listed_acknowledged_and_cleared(db: &Db) {
    let (here, other) = (site(db).await, site(db).await);
    let site = &here;
    let new = |site: &Site, kind: &str, port: Option<u8>, us: i64| NewAlarm {
        station_id: site.station.id,
        pile_id: Some(site.pile.clone()),
        port: port.map(PortNo),
        kind: kind.into(),
        severity: Severity::Critical,
        message: format!("{kind} at the pile"),
        raised_at: t(us),
    };
    let smoke = db.raise_alarm(&new(site, "smoke", Some(3), 11)).await.unwrap();
    assert_eq!((smoke.acknowledged_at, smoke.cleared_at), (None, None));
    let offline = db.raise_alarm(&new(site, "offline", None, 12)).await.unwrap();
    let elsewhere = db.raise_alarm(&new(&other, "fuse", Some(1), 13)).await.unwrap();
    assert!(offline.id > smoke.id);

    let station =
        |open| AlarmFilter { station_id: Some(site.station.id), open, limit: 10, ..AlarmFilter::default() };
    let listed = db.alarms(&station(false)).await.unwrap();
    assert_eq!(listed, vec![offline.clone(), smoke.clone()], "newest first, this station only");
    let by_pile = AlarmFilter { pile_id: Some(other.pile.clone()), limit: 10, ..AlarmFilter::default() };
    assert_eq!(db.alarms(&by_pile).await.unwrap(), vec![elsewhere]);
    let page = AlarmFilter { before: Some(offline.id), ..station(false) };
    assert_eq!(db.alarms(&page).await.unwrap(), vec![smoke.clone()]);
    assert_eq!(db.alarms(&AlarmFilter { limit: 1, ..station(false) }).await.unwrap().len(), 1);

    assert_eq!(db.alarm(smoke.id).await.unwrap(), Some(smoke.clone()));
    assert_eq!(db.alarm(MISSING).await.unwrap(), None);
    let acked = db.acknowledge_alarm(smoke.id, t(20)).await.unwrap().unwrap();
    assert_eq!(acked.acknowledged_at, Some(t(20)));
    let again = db.acknowledge_alarm(smoke.id, t(30)).await.unwrap().unwrap();
    assert_eq!(again.acknowledged_at, Some(t(20)), "the first acknowledgement stands");
    let cleared = db.clear_alarm(smoke.id, t(40)).await.unwrap().unwrap();
    assert_eq!((cleared.acknowledged_at, cleared.cleared_at), (Some(t(20)), Some(t(40))));
    assert_eq!(db.alarms(&station(true)).await.unwrap(), vec![offline], "cleared alarms are not open");
    assert_eq!(db.acknowledge_alarm(MISSING, t(1)).await.unwrap(), None);
    // A station-wide alarm names no pile.
    let over =
        NewAlarm { pile_id: None, port: None, kind: "station_over_limit".into(), ..new(site, "x", None, 50) };
    let over = db.raise_alarm(&over).await.unwrap();
    assert_eq!(db.alarms(&station(true)).await.unwrap()[0], over);
    assert_eq!(db.clear_alarm(MISSING, t(1)).await.unwrap(), None);
}
