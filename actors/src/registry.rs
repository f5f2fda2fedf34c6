//! Where live actors are found: piles by id, stations by id, sessions by id.
//!
//! Each map is a dashmap so HTTP handlers on any worker thread find an actor
//! without messaging anyone. Station actors are the only writers of the pile
//! map, which makes starting a pile race-free.

use std::sync::Arc;

use actix::{Actor, Addr};
use dashmap::DashMap;
use store::{PileRecord, StoreError};
use vocab::{PileId, SessionId, StationId};

use crate::pile::Pile;
use crate::session::Session;
use crate::station::{SpawnPile, Station, StationCtx};
use crate::Platform;

#[derive(Default)]
pub struct Registry {
    pub piles: DashMap<PileId, Addr<Pile>>,
    pub stations: DashMap<StationId, Addr<Station>>,
    pub sessions: DashMap<SessionId, Addr<Session>>,
    /// Live charges paid from each wallet, for top-ups that raise their holds.
    pub wallets: DashMap<vocab::DriverId, Vec<Addr<Session>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("station {0} not found")]
    NoStation(StationId),
    #[error("tariff {0} of the station not found")]
    NoTariff(i64),
    #[error("actor stopped")]
    Mailbox(#[from] actix::MailboxError),
}

impl Registry {
    pub fn pile(&self, id: &PileId) -> Option<Addr<Pile>> {
        self.piles.get(id).map(|a| a.clone()).filter(|a| a.connected())
    }
}

/// The live actor of a pile, started under its station if it is not running.
pub async fn pile(platform: &Arc<Platform>, record: PileRecord) -> Result<Addr<Pile>, StartError> {
    if let Some(addr) = platform.registry.pile(&record.id) {
        return Ok(addr);
    }
    let station = station(platform, record.station_id).await?;
    Ok(station.send(SpawnPile(record)).await?)
}

/// Every `every`, each station running here is compared with the store and
/// takes up what another node changed: with several nodes, an edit is
/// pushed only to the node that took the request, and this is how the
/// others learn it. One node never needs it.
pub async fn reconcile_stations(platform: Arc<Platform>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let running: Vec<(StationId, Addr<Station>)> =
            platform.registry.stations.iter().map(|e| (*e.key(), e.value().clone())).collect();
        for (id, station) in running {
            match read_station(&platform, id).await {
                Ok(Some((record, tariff))) => station.do_send(crate::station::Reconcile(record, tariff)),
                Ok(None) => {}
                Err(e) => tracing::warn!(station = id, error = %e, "could not read a station to reconcile"),
            }
        }
    }
}

/// A station and its tariff as the store holds them now.
pub async fn read_station(
    platform: &Platform,
    id: StationId,
) -> Result<Option<(store::Station, domain::tariff::Tariff)>, StoreError> {
    let Some(record) = platform.store.station(id).await? else { return Ok(None) };
    let tariff = platform.store.tariff(record.tariff_id).await?;
    Ok(tariff.map(|t| (record, t)))
}

/// The live actor of a station, started with its tariff if it is not running.
pub async fn station(platform: &Arc<Platform>, id: StationId) -> Result<Addr<Station>, StartError> {
    if let Some(addr) = platform.registry.stations.get(&id).map(|a| a.clone()).filter(|a| a.connected()) {
        return Ok(addr);
    }
    let record = platform.store.station(id).await?.ok_or(StartError::NoStation(id))?;
    let tariff =
        platform.store.tariff(record.tariff_id).await?.ok_or(StartError::NoTariff(record.tariff_id))?;
    let offset = crate::station::offset(&record);
    let ctx = Arc::new(StationCtx { record, tariff, offset });
    let entry = platform
        .registry
        .stations
        .entry(id)
        .and_modify(|a| {
            if !a.connected() {
                *a = Station::new(platform.clone(), ctx.clone()).start();
            }
        })
        .or_insert_with(|| Station::new(platform.clone(), ctx.clone()).start());
    Ok(entry.clone())
}
