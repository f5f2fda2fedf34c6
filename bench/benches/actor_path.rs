//! The whole inbound path of a live link, in process: e-bike heartbeat
//! frames (10 ports) written into an in-memory stream that the gateway
//! serves exactly as an accepted socket (`actors::gateway::connect`), cut
//! and decoded by the link, answered, and handled by the pile actor and its
//! ten port actors. An iteration is one frame; frames are pipelined 32 deep
//! and every batch ends with a round trip to the pile actor (`pile::View`),
//! so each measured frame was handled, not just queued.
//!
//! Everything runs on one thread, the platform's actix system and the
//! simulated pile's side (encode, write, read and decode its replies)
//! included: frames per second here are per core, and conservative.

use std::sync::Arc;
use std::time::{Duration, Instant};
use store::prelude::*;

use actors::Platform;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use domain::tariff::TouPrices;
use futures::{SinkExt, StreamExt};
use proto::dny::{Down, Frame, Heartbeat, Register, StreamCodec, Unit, Up};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::{NewStation, SqliteConfig, SqliteStore};
use tokio::io::DuplexStream;
use tokio_util::codec::Framed;
use vocab::PileId;

const PHYS: u32 = 0x05A1_B2C3;
const DEPTH: u64 = 32;

type Conn = Framed<DuplexStream, StreamCodec>;

async fn link(dir: &std::path::Path) -> (Arc<Platform>, Conn, PileId) {
    let mut cfg = SqliteConfig::new(dir.join("bench.db"));
    cfg.synchronous_full = false;
    let store = SqliteStore::open(cfg).unwrap();
    let tariff = store.create_tariff(1, "flat", &TouPrices::flat(dec!(0.8), dec!(0.4))).await.unwrap();
    let station = store
        .create_station(&NewStation {
            operator_id: 1,
            name: "bench".into(),
            tariff_id: tariff.id,
            utc_offset_minutes: 480,
            service_fee: Decimal::ZERO,
            minimum_charge: Decimal::ZERO,
            merchant_id: None,
            details: None,
        })
        .await
        .unwrap();
    let config = actors::Config { auto_register: Some(station.id), ..Default::default() };
    let platform = Platform::new(config, Arc::new(store));

    let (pile_end, platform_end) = tokio::io::duplex(64 * 1024);
    let (read, write) = tokio::io::split(platform_end);
    actix_rt::spawn(actors::gateway::connect(platform.clone(), read, write, "bench".into()));
    let mut conn = Framed::new(pile_end, StreamCodec::new());
    conn.send(Unit::Iccid(format!("8986{PHYS:016X}"))).await.unwrap();
    let register = Register {
        firmware: 0x0102,
        ports: 10,
        virtual_id: 0,
        device_type: 0x05,
        work_mode: 0,
        power_board: 0x0100,
    };
    conn.send(Up::Register(register).encode(PHYS, 1).unwrap()).await.unwrap();
    loop {
        match conn.next().await {
            Some(Ok(Ok(Unit::Frame(f)))) if matches!(Down::decode(&f), Ok(Down::RegisterReply(_))) => break,
            Some(_) => {}
            None => panic!("the link closed during registration"),
        }
    }
    (platform, conn, proto::dny::pile_id(PHYS))
}

fn heartbeats() -> Vec<Frame> {
    let hb = Heartbeat { voltage: dec!(220.0), ports: vec![1; 10], signal: 28, temperature: Some(25) };
    (0..4096u16).map(|msg| Up::Heartbeat(hb.clone()).encode(PHYS, msg.wrapping_add(2)).unwrap()).collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sys = actix_rt::System::new();
    let (platform, conn, id) = sys.block_on(link(dir.path()));
    let mut slot = Some(conn);
    let frames = heartbeats();

    let mut g = c.benchmark_group("actor_path");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("dny_heartbeat_10_ports", |b| {
        b.iter_custom(|iters| {
            let mut conn = slot.take().expect("connection");
            let (platform, frames, id) = (&platform, &frames, &id);
            let (elapsed, conn) = sys.block_on(async move {
                let pile = platform.registry.piles.get(id).expect("pile actor").clone();
                let began = Instant::now();
                let mut sent = 0u64;
                while sent < iters {
                    let k = (iters - sent).min(DEPTH);
                    for n in 0..k {
                        let f = frames[((sent + n) % frames.len() as u64) as usize].clone();
                        conn.feed(f).await.unwrap();
                    }
                    SinkExt::<Frame>::flush(&mut conn).await.unwrap();
                    let mut replies = 0;
                    while replies < k {
                        match conn.next().await {
                            Some(Ok(Ok(Unit::Frame(f)))) => {
                                if matches!(Down::decode(&f), Ok(Down::HeartbeatReply(_))) {
                                    replies += 1;
                                }
                            }
                            Some(_) => {}
                            None => panic!("the link closed"),
                        }
                    }
                    // The pile actor has handled everything sent before.
                    pile.send(actors::pile::View).await.unwrap();
                    sent += k;
                }
                (began.elapsed(), conn)
            });
            slot = Some(conn);
            elapsed
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
