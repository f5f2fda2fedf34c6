//! YKC frame path: cutting a real-time data frame out of a byte stream and
//! decoding its body, and the reverse, as a pile link does for every frame.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::domain::{PileId, SessionId};
use engine::ykc::{FrameCodec, Message, RealTime};
use rust_decimal_macros::dec;
use tokio_util::codec::{Decoder, Encoder};

fn realtime() -> Message {
    Message::RealTime(RealTime {
        serial: SessionId("55031412782305012603010830000042".into()),
        pile: PileId("55031412782305".into()),
        gun: 1,
        status: 3,
        holstered: 0,
        plugged: true,
        voltage: dec!(380.5),
        current: dec!(62.3),
        cable_temp: 41,
        cable_code: [0; 8],
        soc: 57,
        battery_max_temp: 33,
        minutes_charged: 42,
        minutes_left: 31,
        kwh: dec!(16.4213),
        loss_kwh: dec!(16.4213),
        amount: dec!(24.6319),
        hardware_faults: 0,
    })
}

fn bench(c: &mut Criterion) {
    let msg = realtime();
    let mut wire = BytesMut::new();
    FrameCodec.encode(msg.encode(7).unwrap(), &mut wire).unwrap();
    let wire = wire.freeze();

    let mut g = c.benchmark_group("ykc_realtime");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let frame = FrameCodec.decode(&mut buf).unwrap().unwrap().unwrap();
            Message::decode(&frame).unwrap()
        })
    });
    g.bench_function("encode", |b| {
        let mut buf = BytesMut::with_capacity(128);
        b.iter(|| {
            buf.clear();
            FrameCodec.encode(msg.encode(7).unwrap(), &mut buf).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
