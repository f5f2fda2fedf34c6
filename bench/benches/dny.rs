//! DNY (e-bike) frame path: cutting a charging report out of a byte stream
//! and decoding its body, and the reverse, as a pile link does for every
//! frame.

use bytes::BytesMut;
use chrono::DateTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use proto::dny::{ChargingReport, Electric, OrderNo, StreamCodec, Unit, Up};
use rust_decimal_macros::dec;
use tokio_util::codec::{Decoder, Encoder};

const PHYS: u32 = 0x05A1_B2C3;

/// The V8.6 form, every field present (47 bytes).
fn report() -> Up {
    Up::ChargingReport(ChargingReport {
        port: 2,
        status: 1,
        elapsed: 3600,
        energy: dec!(0.18),
        origin: 1,
        power: dec!(180.5),
        max_power: dec!(182.1),
        min_power: dec!(179.0),
        avg_power: dec!(180.4),
        order: OrderNo::from_text("2611250830000042", "order").unwrap(),
        period_energy: Some(864),
        peak_power: Some(dec!(190.0)),
        electric: Some(Electric { voltage: dec!(220.0), current: dec!(0.820) }),
        temperatures: Some((Some(25), Some(30))),
        time: DateTime::from_timestamp(1_764_059_400, 0),
        occupied_min: Some(0),
    })
}

fn bench(c: &mut Criterion) {
    let up = report();
    let mut wire = BytesMut::new();
    StreamCodec::new().encode(up.encode(PHYS, 7).unwrap(), &mut wire).unwrap();
    let wire = wire.freeze();

    let mut g = c.benchmark_group("dny_charging_report");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        let mut codec = StreamCodec::new();
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let Unit::Frame(frame) = codec.decode(&mut buf).unwrap().unwrap().unwrap() else {
                panic!("not a frame")
            };
            Up::decode(&frame).unwrap()
        })
    });
    g.bench_function("encode", |b| {
        let mut codec = StreamCodec::new();
        let mut buf = BytesMut::with_capacity(128);
        b.iter(|| {
            buf.clear();
            codec.encode(up.encode(PHYS, 7).unwrap(), &mut buf).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
