//! A station actor starts the pile actors of its station and keeps them: a
//! pile actor outlives its TCP connections, so open charges survive a pile
//! dropping off and coming back. The station is also where the transformer
//! limit will be enforced, since it is the one place that sees every port.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, Message};
use chrono::FixedOffset;
use engine::domain::PileId;
use engine::store::{PileRecord, Station as StationRecord};
use engine::tariff::Tariff;

use crate::pile::Pile;
use crate::Platform;

/// What piles, ports and sessions need to know of their station.
#[derive(Debug)]
pub struct StationCtx {
    pub record: StationRecord,
    pub tariff: Tariff,
    pub offset: FixedOffset,
}

pub struct Station {
    platform: Arc<Platform>,
    ctx: Arc<StationCtx>,
    piles: HashMap<PileId, Addr<Pile>>,
}

impl Station {
    pub fn new(platform: Arc<Platform>, ctx: Arc<StationCtx>) -> Self {
        Station { platform, ctx, piles: HashMap::new() }
    }
}

impl Actor for Station {
    type Context = Context<Self>;
}

/// Start a pile's actor, or return the running one.
#[derive(Message)]
#[rtype(result = "Addr<Pile>")]
pub struct SpawnPile(pub PileRecord);

impl Handler<SpawnPile> for Station {
    type Result = Addr<Pile>;

    fn handle(&mut self, SpawnPile(record): SpawnPile, _: &mut Context<Self>) -> Addr<Pile> {
        if let Some(addr) = self.piles.get(&record.id).filter(|a| a.connected()) {
            return addr.clone();
        }
        let id = record.id.clone();
        let addr = Pile::new(self.platform.clone(), record, self.ctx.clone()).start();
        self.piles.insert(id.clone(), addr.clone());
        self.platform.registry.piles.insert(id, addr.clone());
        addr
    }
}
