//! The fleet's OCPP 1.6J member: one simulated charge point per runner, over
//! a real WebSocket to the platform's `ocpp_listen`. It boots, reports its
//! connectors plugged, heartbeats, answers remote starts and stops with
//! Start/StopTransaction, meters while charging, and after a power cut dials
//! again. Everything OCPP-specific in the load test lives here; the
//! scenarios see the same `Stats` and `Ctl` as for YKC and e-bike piles.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use loadtest::ocpp_cp::{ChargePoint, IncomingCall};
use serde_json::json;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::fleet::{Ctl, Fleet};

/// Longer than any run: `recv` waits on the socket, not on a timer.
const FOREVER: Duration = Duration::from_secs(86_400);

/// Every connector draws this much while charging, W.
const POWER_W: i64 = 7_000;

/// How one connection of a charge point ended.
enum End {
    /// The central system closed it, or a call went unanswered.
    Closed,
    /// The driver cut the power.
    Cut,
    /// The driver is gone, or the charge point was refused.
    Gone,
}

/// A running transaction on a connector.
struct Tx {
    id: i64,
    /// The remote start's idTag: the platform's session id.
    order: String,
    register_wh: i64,
}

impl Fleet {
    pub(crate) async fn run_ocpp(self, i: u32, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        let s = self.stats.clone();
        let id = self.pile_id(i);
        let mut first = true;
        // Transactions outlive a connection, as a charge point's do.
        let mut txs: HashMap<u8, Tx> = HashMap::new();
        loop {
            let permit = self.gate.clone().acquire_owned().await.expect("gate");
            let cp = match ChargePoint::connect(self.ocpp_addr, &id).await {
                Ok(cp) => cp,
                Err(_) => {
                    s.connect_failed.fetch_add(1, Relaxed);
                    if first {
                        return;
                    }
                    drop(permit);
                    tokio::time::sleep(self.backoff(i)).await;
                    continue;
                }
            };
            first = false;
            let end = self.link(i, cp, &mut ctl, &mut txs, permit).await;
            match end {
                End::Gone => return,
                End::Closed => tokio::time::sleep(self.backoff(i)).await,
                End::Cut => loop {
                    match ctl.recv().await {
                        Some(Ctl::Restore) => break,
                        Some(_) => {}
                        None => return,
                    }
                },
            }
        }
    }

    /// A field charge point dials again after a while, spread over the fleet.
    fn backoff(&self, i: u32) -> Duration {
        Duration::from_millis(1000 + u64::from(i % 2000))
    }

    /// One connection: boot, then serve until it ends.
    async fn link(
        &self,
        i: u32,
        mut cp: ChargePoint,
        ctl: &mut mpsc::UnboundedReceiver<Ctl>,
        txs: &mut HashMap<u8, Tx>,
        permit: OwnedSemaphorePermit,
    ) -> End {
        let s = &self.stats;
        // Every call of the central system's is answered here, none by itself.
        cp.auto_accept.clear();
        let boot = cp.boot().await;
        drop(permit);
        match boot {
            Ok(conf) if conf["status"] == "Accepted" => {}
            Ok(_) => {
                s.refused.fetch_add(1, Relaxed);
                return End::Gone;
            }
            Err(_) => {
                s.closed.fetch_add(1, Relaxed);
                return End::Closed;
            }
        }
        s.messages.fetch_add(1, Relaxed);
        s.logins.fetch_add(1, Relaxed);
        s.online.fetch_add(1, Relaxed);
        let end = self.serve(i, &mut cp, ctl, txs).await;
        s.online.fetch_sub(1, Relaxed);
        if matches!(end, End::Closed) {
            s.closed.fetch_add(1, Relaxed);
        }
        end
    }

    async fn serve(
        &self,
        i: u32,
        cp: &mut ChargePoint,
        ctl: &mut mpsc::UnboundedReceiver<Ctl>,
        txs: &mut HashMap<u8, Tx>,
    ) -> End {
        let s = &self.stats;
        // A vehicle waits at every idle connector (as a YKC gun is plugged);
        // charges that ran through a power cut go on.
        for c in 1..=self.ports {
            let status = if txs.contains_key(&c) { "Charging" } else { "Preparing" };
            if cp.status(u32::from(c), status, "NoError").await.is_err() {
                return End::Closed;
            }
            s.messages.fetch_add(1, Relaxed);
        }
        let start = tokio::time::Instant::now();
        let mut beat = tokio::time::interval_at(start + self.heartbeat, self.heartbeat);
        let mut meter = tokio::time::interval_at(start + self.meter_every, self.meter_every);
        loop {
            while let Some(call) = cp.take_call() {
                if !self.answer(i, cp, call, txs).await {
                    return End::Closed;
                }
            }
            tokio::select! {
                _ = beat.tick() => {
                    if cp.call("Heartbeat", json!({})).await.is_err() {
                        return End::Closed;
                    }
                    s.messages.fetch_add(1, Relaxed);
                }
                _ = meter.tick(), if !txs.is_empty() => {
                    let wh = POWER_W * self.meter_every.as_millis() as i64 / 3_600_000;
                    for (&c, tx) in txs.iter_mut() {
                        tx.register_wh += wh;
                        if cp.meter_values(u32::from(c), Some(tx.id), tx.register_wh, POWER_W).await.is_err() {
                            return End::Closed;
                        }
                        s.messages.fetch_add(1, Relaxed);
                    }
                }
                v = cp.recv(FOREVER) => match v {
                    Some(v) => cp.keep(v).await,
                    None => return End::Closed,
                },
                c = ctl.recv() => match c {
                    // Dropping the socket unannounced, as a power cut does.
                    Some(Ctl::PowerCut) => return End::Cut,
                    Some(_) => {}
                    None => return End::Gone,
                },
            }
        }
    }

    /// Answers one call of the central system's; false when the link broke.
    async fn answer(
        &self,
        i: u32,
        cp: &mut ChargePoint,
        call: IncomingCall,
        txs: &mut HashMap<u8, Tx>,
    ) -> bool {
        let s = &self.stats;
        let accepted = json!({"status": "Accepted"});
        match call.action.as_str() {
            "RemoteStartTransaction" => {
                let c = call.payload["connectorId"].as_u64().unwrap_or(1) as u8;
                let tag = call.payload["idTag"].as_str().unwrap_or_default().to_owned();
                let free = !txs.contains_key(&c);
                if free {
                    // Open from the command on, so a scenario that counts
                    // starts finds it among the open orders.
                    s.open_orders.lock().unwrap().insert(tag.clone());
                }
                s.on_start(i, c, free);
                let status = if free { "Accepted" } else { "Rejected" };
                if cp.reply(&call, json!({ "status": status })).await.is_err() {
                    return false;
                }
                if !free {
                    return true;
                }
                let register_wh = 1_000;
                let Ok(conf) = cp.start_transaction(u32::from(c), &tag, register_wh).await else {
                    return false;
                };
                s.messages.fetch_add(1, Relaxed);
                match conf["transactionId"].as_i64() {
                    Some(id) if conf["idTagInfo"]["status"] == "Accepted" => {
                        txs.insert(c, Tx { id, order: tag, register_wh });
                        if cp.status(u32::from(c), "Charging", "NoError").await.is_err() {
                            return false;
                        }
                        s.messages.fetch_add(1, Relaxed);
                    }
                    _ => {
                        s.open_orders.lock().unwrap().remove(&tag);
                        self.free.release(i, c);
                    }
                }
                true
            }
            "RemoteStopTransaction" => {
                let id = call.payload["transactionId"].as_i64();
                let found = txs.iter().find(|(_, t)| Some(t.id) == id).map(|(&c, _)| c);
                let status = if found.is_some() { "Accepted" } else { "Rejected" };
                if cp.reply(&call, json!({ "status": status })).await.is_err() {
                    return false;
                }
                let Some(c) = found else { return true };
                let tx = txs.remove(&c).expect("found");
                s.stopped.fetch_add(1, Relaxed);
                if cp.stop_transaction(tx.id, tx.register_wh, "Remote").await.is_err() {
                    return false;
                }
                s.messages.fetch_add(1, Relaxed);
                s.billed.fetch_add(1, Relaxed);
                s.open_orders.lock().unwrap().remove(&tx.order);
                // The next driver plugs in.
                if cp.status(u32::from(c), "Preparing", "NoError").await.is_err() {
                    return false;
                }
                s.messages.fetch_add(1, Relaxed);
                self.free.release(i, c);
                true
            }
            "GetConfiguration" => {
                cp.reply(&call, json!({"configurationKey": [], "unknownKey": []})).await.is_ok()
            }
            _ => cp.reply(&call, accepted).await.is_ok(),
        }
    }
}
