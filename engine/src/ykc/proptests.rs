//! Property tests: every message survives encode → wire → decode unchanged
//! over the whole range its fields can carry, and no input makes the codec
//! panic.

use bytes::{Bytes, BytesMut};
use chrono::{NaiveDate, NaiveDateTime};
use proptest::collection::vec;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::domain::{PileId, SessionId};
use crate::tariff::{Period, PeriodPrice, SLOTS};

fn pile() -> impl Strategy<Value = PileId> {
    "[0-9]{14}".prop_map(PileId)
}

fn serial() -> impl Strategy<Value = SessionId> {
    "[0-9]{32}".prop_map(SessionId)
}

fn gun() -> impl Strategy<Value = u8> {
    0u8..=99
}

/// A `Decimal` with `dp` places whose wire integer is at most `max`.
fn dec(dp: u32, max: u64) -> impl Strategy<Value = Decimal> {
    (0..=max).prop_map(move |n| Decimal::from_i128_with_scale(n.into(), dp))
}

fn time() -> impl Strategy<Value = NaiveDateTime> {
    (2000i32..=2127, 1u32..=12, 1u32..=31, 0u32..24, 0u32..60, 0u32..60_000).prop_filter_map(
        "real date",
        |(y, mo, d, h, mi, ms)| {
            NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_milli_opt(h, mi, ms / 1000, ms % 1000)
        },
    )
}

/// Printable ASCII of at most `max` bytes that does not end in the padding
/// a decoder trims.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("([ -~]{{0,{}}}[!-~])?", max - 1)).unwrap()
}

fn card() -> impl Strategy<Value = [u8; 8]> {
    any::<[u8; 8]>()
}

prop_compose! {
    fn login()(
        pile in pile(), kind in any::<u8>(), guns in any::<u8>(), protocol in any::<u8>(),
        firmware in text(8), net in any::<u8>(), sim in "[0-9A-F]{20}", carrier in any::<u8>(),
    ) -> Message {
        Message::Login(Login { pile, kind, guns, protocol, firmware, net, sim, carrier })
    }
}

prop_compose! {
    fn billing_model()(
        pile in pile(), model in 0u16..=9999,
        prices in vec((dec(5, u32::MAX.into()), dec(5, u32::MAX.into())), 4),
        loss_ratio in any::<u8>(), slots in vec(0u8..4, SLOTS),
    ) -> BillingModel {
        let mut p = [PeriodPrice { energy: Decimal::ZERO, service: Decimal::ZERO }; 4];
        for (p, (energy, service)) in p.iter_mut().zip(prices) {
            *p = PeriodPrice { energy, service };
        }
        let mut s = [Period::Flat; SLOTS];
        for (s, b) in s.iter_mut().zip(slots) {
            *s = Period::from_index(b).unwrap();
        }
        BillingModel { pile, model, prices: p, loss_ratio, slots: s }
    }
}

prop_compose! {
    fn realtime()(
        ids in (serial(), pile(), gun()),
        flags in (any::<u8>(), any::<u8>(), any::<bool>()),
        electric in (dec(1, u16::MAX.into()), dec(1, u16::MAX.into())),
        temps in (-50i16..=205, -50i16..=205),
        misc in (card(), any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>()),
        energy in (dec(4, u32::MAX.into()), dec(4, u32::MAX.into()), dec(4, u32::MAX.into())),
    ) -> Message {
        let (serial, pile, gun) = ids;
        let (status, holstered, plugged) = flags;
        let (voltage, current) = electric;
        let (cable_temp, battery_max_temp) = temps;
        let (cable_code, soc, minutes_charged, minutes_left, hardware_faults) = misc;
        let (kwh, loss_kwh, amount) = energy;
        Message::RealTime(RealTime {
            serial, pile, gun, status, holstered, plugged, voltage, current, cable_temp,
            cable_code, soc, battery_max_temp, minutes_charged, minutes_left, kwh, loss_kwh,
            amount, hardware_faults,
        })
    }
}

fn period_usage() -> impl Strategy<Value = PeriodUsage> {
    let u32max = u64::from(u32::MAX);
    (dec(5, u32max), dec(4, u32max), dec(4, u32max), dec(4, u32max))
        .prop_map(|(price, kwh, loss_kwh, amount)| PeriodUsage { price, kwh, loss_kwh, amount })
}

prop_compose! {
    fn record()(
        ids in (serial(), pile(), gun()),
        times in (time(), time(), time()),
        periods in vec(period_usage(), 4),
        meters in (dec(4, fields::U40_MAX), dec(4, fields::U40_MAX)),
        totals in (dec(4, u32::MAX.into()), dec(4, u32::MAX.into()), dec(4, u32::MAX.into())),
        tail in (text(17), any::<u8>(), any::<u8>(), card()),
    ) -> Message {
        let (serial, pile, gun) = ids;
        let (start, end, trade_time) = times;
        let (meter_start, meter_end) = meters;
        let (kwh, loss_kwh, amount) = totals;
        let (vin, origin, stop_reason, physical_card) = tail;
        let mut p = [PeriodUsage::default(); 4];
        p.copy_from_slice(&periods);
        Message::TransactionRecord(TransactionRecord {
            serial, pile, gun, start, end, periods: p, meter_start, meter_end, kwh, loss_kwh,
            amount, vin, origin, trade_time, stop_reason, physical_card,
        })
    }
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        login(),
        (pile(), any::<bool>()).prop_map(|(pile, accepted)| LoginReply { pile, accepted }.into()),
        (pile(), gun(), any::<bool>()).prop_map(|(pile, gun, fault)| Heartbeat { pile, gun, fault }.into()),
        (pile(), gun()).prop_map(|(pile, gun)| HeartbeatReply { pile, gun }.into()),
        (pile(), 0u16..=9999).prop_map(|(pile, model)| BillingModelCheck { pile, model }.into()),
        (pile(), 0u16..=9999, any::<bool>()).prop_map(|(pile, model, differs)| BillingModelCheckReply {
            pile,
            model,
            differs
        }
        .into()),
        pile().prop_map(|pile| BillingModelRequest { pile }.into()),
        billing_model().prop_map(Message::BillingModel),
        billing_model().prop_map(Message::BillingModelPush),
        (pile(), gun()).prop_map(|(pile, gun)| RealTimeRequest { pile, gun }.into()),
        realtime(),
        (serial(), pile(), gun(), card(), card(), dec(2, u32::MAX.into())).prop_map(
            |(serial, pile, gun, logical_card, physical_card, balance)| {
                RemoteStart { serial, pile, gun, logical_card, physical_card, balance }.into()
            }
        ),
        (serial(), pile(), gun(), any::<bool>(), any::<u8>()).prop_map(|(serial, pile, gun, ok, reason)| {
            RemoteStartResult { serial, pile, gun, ok, reason }.into()
        }),
        (pile(), gun()).prop_map(|(pile, gun)| RemoteStop { pile, gun }.into()),
        (pile(), gun(), any::<bool>(), any::<u8>()).prop_map(|(pile, gun, ok, reason)| RemoteStopResult {
            pile,
            gun,
            ok,
            reason
        }
        .into()),
        record(),
        (serial(), any::<bool>()).prop_map(|(serial, invalid)| RecordAck { serial, invalid }.into()),
        (any::<u8>(), vec(any::<u8>(), 0..=MAX_BODY))
            .prop_filter("a known type would decode as itself", |(kind, _)| {
                Message::decode(&Frame { seq: 0, enc: 0, kind: *kind, body: Bytes::new() })
                    .is_ok_and(|m| matches!(m, Message::Other { .. }))
            })
            .prop_map(|(kind, body)| Message::Other { kind, body: body.into() }),
    ]
}

/// Kinds the codec interprets, to aim random bodies at real decoders.
const KINDS: [u8; 17] =
    [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x12, 0x13, 0x33, 0x34, 0x35, 0x36, 0x3B, 0x40, 0x58];

/// A stretch of input: noise, or a well-formed frame around a random body
/// (so the body decoders see random bytes too, not just the CRC check).
fn segment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        (any::<u16>(), prop::sample::select(&KINDS[..]), vec(any::<u8>(), 0..=MAX_BODY)).prop_map(
            |(seq, kind, body)| {
                let mut out = BytesMut::new();
                FrameCodec.encode(Frame { seq, enc: 0, kind, body: body.into() }, &mut out).unwrap();
                out.to_vec()
            }
        ),
        message().prop_map(|m| {
            let mut out = BytesMut::new();
            FrameCodec.encode(m.encode(1).unwrap(), &mut out).unwrap();
            out.to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(m in message(), seq in any::<u16>()) {
        let frame = m.encode(seq).unwrap();
        prop_assert_eq!(frame.kind, m.kind());
        let mut wire = BytesMut::new();
        FrameCodec.encode(frame.clone(), &mut wire).unwrap();
        let decoded = FrameCodec.decode(&mut wire).unwrap().unwrap().unwrap();
        prop_assert!(wire.is_empty());
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(Message::decode(&decoded).unwrap(), m);
    }

    #[test]
    fn arbitrary_input_in_arbitrary_chunks_never_panics(
        segments in vec(segment(), 0..8),
        chunks in vec(1usize..80, 1..40),
    ) {
        let input = segments.concat();
        let mut buf = BytesMut::new();
        let mut rest = &input[..];
        let mut sizes = chunks.iter().cycle();
        let mut consumed = 0;
        'feed: while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                let before = buf.len();
                match FrameCodec.decode(&mut buf) {
                    Ok(Some(Ok(frame))) => {
                        let _ = Message::decode(&frame);
                    }
                    Ok(Some(Err(_))) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
                // Every item consumes input, so the loop always ends.
                prop_assert!(buf.len() < before);
                consumed += before - buf.len();
            }
        }
        prop_assert!(consumed <= input.len());
    }

    #[test]
    fn arbitrary_bodies_never_panic(kind in any::<u8>(), body in vec(any::<u8>(), 0..=MAX_BODY)) {
        let frame = Frame { seq: 0, enc: 0, kind, body: body.into() };
        if let Ok(m) = Message::decode(&frame) {
            // Encoding may refuse what decoding tolerated, but never panics.
            let _ = m.encode(0);
        }
    }
}
