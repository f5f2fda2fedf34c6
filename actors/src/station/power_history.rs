//! A running station's power over time, for the console's chart: every
//! `station_power_sample` the station stores its limit, what it shared out
//! and what it measured (`store::PowerHistory`), kept for
//! `station_power_retention`. The write is not awaited by the actor: a
//! sample lost to a store error is a gap in a chart, logged and counted.

use std::sync::Arc;

use actix::{AsyncContext, Context, Handler};
use store::PowerSample;
use vocab::StationId;

use super::{GetPower, Station};
use crate::platform::Platform;

/// Starts the station's sampling; called once as the station starts.
pub fn sample_every(platform: Arc<Platform>, station: StationId, ctx: &mut Context<Station>) {
    let every = platform.config.station_power_sample;
    if every.is_zero() {
        return;
    }
    ctx.run_interval(every, move |st, ctx| {
        let view = Handler::<GetPower>::handle(st, GetPower, ctx).0;
        let sample = PowerSample {
            station_id: station,
            at: platform.now(),
            limit_w: view.managed.then_some(view.limit_w),
            allocated_w: view.allocated_w,
            measured_w: view.measured_w,
        };
        let platform = Arc::clone(&platform);
        actix::spawn(async move {
            let keep = platform.config.station_power_retention;
            if let Err(e) = platform.store.record_station_power(&sample, keep).await {
                platform.metrics.power_samples_failed.inc();
                tracing::warn!(station = %station, error = %e, "a station power sample was not stored");
            }
        });
    });
}
