//! YKC frame path: cutting a frame out of a byte stream and decoding its
//! body, and the reverse, as a pile link does for every frame; for the
//! real-time data frame (every few seconds per charging gun) and the
//! 158-byte transaction record (once per charge).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use proto::ykc::{FrameCodec, Message, PeriodUsage, RealTime, TransactionRecord};
use rust_decimal_macros::dec;
use tokio_util::codec::{Decoder, Encoder};
use vocab::{PileId, SessionId};

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

fn record() -> Message {
    let t = |h, m| chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap().and_hms_opt(h, m, 0).unwrap();
    let usage = |kwh| PeriodUsage {
        price: dec!(1.23450),
        kwh,
        loss_kwh: kwh,
        amount: (kwh * dec!(1.2345)).round_dp(4),
    };
    Message::TransactionRecord(TransactionRecord {
        serial: SessionId("55031412782305012603010830000042".into()),
        pile: PileId("55031412782305".into()),
        gun: 1,
        start: t(8, 30),
        end: t(10, 5),
        periods: [usage(dec!(3.2)), usage(dec!(12.5)), usage(dec!(0)), usage(dec!(0))],
        meter_start: dec!(1000.0000),
        meter_end: dec!(1015.7000),
        kwh: dec!(15.7),
        loss_kwh: dec!(15.7),
        amount: dec!(19.38),
        vin: "LSVAU2180N2183294".into(),
        origin: TransactionRecord::ORIGIN_APP,
        trade_time: t(10, 5),
        stop_reason: 0x40,
        physical_card: [0; 8],
    })
}

fn bench(c: &mut Criterion) {
    frame(c, "ykc_realtime", realtime());
    frame(c, "ykc_transaction_record", record());
}

fn frame(c: &mut Criterion, group: &str, msg: Message) {
    let mut wire = BytesMut::new();
    FrameCodec.encode(msg.encode(7).unwrap(), &mut wire).unwrap();
    let wire = wire.freeze();

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let frame = FrameCodec.decode(&mut buf).unwrap().unwrap().unwrap();
            Message::decode(&frame).unwrap()
        })
    });
    g.bench_function("encode", |b| {
        let mut buf = BytesMut::with_capacity(256);
        b.iter(|| {
            buf.clear();
            FrameCodec.encode(msg.encode(7).unwrap(), &mut buf).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
