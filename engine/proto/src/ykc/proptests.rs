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
use vocab::{PileId, SessionId};

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
        let mut p = [PeriodRate { energy: Decimal::ZERO, service: Decimal::ZERO }; 4];
        for (p, (energy, service)) in p.iter_mut().zip(prices) {
            *p = PeriodRate { energy, service };
        }
        let mut s = [period::FLAT; SLOTS];
        for (s, b) in s.iter_mut().zip(slots) {
            *s = b;
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

fn bms() -> impl Strategy<Value = Message> {
    (prop::sample::select(&kind::BMS[..]), serial(), pile(), gun(), vec(any::<u8>(), 0..=MAX_BODY - 24))
        .prop_map(|(kind, serial, pile, gun, data)| {
            BmsFrame { kind, serial, pile, gun, data: data.into() }.into()
        })
}

prop_compose! {
    fn card_start()(
        pile in pile(), gun in gun(), mode in any::<u8>(), password_required in any::<bool>(),
        card in card(), password_md5 in any::<[u8; 16]>(), vin in text(17),
    ) -> CardStart {
        CardStart { pile, gun, mode, password_required, card, password_md5, vin }
    }
}

prop_compose! {
    fn card_start_verdict()(
        serial in serial(), pile in pile(), gun in gun(), logical_card in card(),
        balance in dec(2, u32::MAX.into()), ok in any::<bool>(), reason in any::<u8>(),
    ) -> CardStartVerdict {
        CardStartVerdict { serial, pile, gun, logical_card, balance, ok, reason }
    }
}

prop_compose! {
    fn remote_start()(
        serial in serial(), pile in pile(), gun in gun(), logical_card in card(),
        physical_card in card(), balance in dec(2, u32::MAX.into()),
    ) -> RemoteStart {
        RemoteStart { serial, pile, gun, logical_card, physical_card, balance }
    }
}

prop_compose! {
    fn remote_start_result()(
        serial in serial(), pile in pile(), gun in gun(), ok in any::<bool>(), reason in any::<u8>(),
    ) -> RemoteStartResult {
        RemoteStartResult { serial, pile, gun, ok, reason }
    }
}

fn card_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        card_start().prop_map(Message::CardStart),
        card_start_verdict().prop_map(Message::CardStartVerdict),
        (pile(), gun(), card(), dec(2, u32::MAX.into())).prop_map(|(pile, gun, physical_card, balance)| {
            BalanceUpdate { pile, gun, physical_card, balance }.into()
        }),
        (pile(), card(), any::<u8>()).prop_map(|(pile, physical_card, result)| BalanceUpdateResult {
            pile,
            physical_card,
            result
        }
        .into()),
    ]
}

fn offline_card_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (pile(), vec((card(), card()), 0..=OfflineCardSync::MAX_CARDS)).prop_map(|(pile, cards)| {
            let cards = cards
                .into_iter()
                .map(|(logical_card, physical_card)| OfflineCard { logical_card, physical_card })
                .collect();
            OfflineCardSync { pile, cards }.into()
        }),
        (pile(), any::<bool>(), any::<u8>()).prop_map(|(pile, ok, reason)| OfflineCardSyncResult {
            pile,
            ok,
            reason
        }
        .into()),
        (pile(), vec(card(), 0..=OfflineCardClear::MAX_CARDS)).prop_map(|(pile, cards)| OfflineCardClear {
            pile,
            cards
        }
        .into()),
        (pile(), vec((card(), any::<bool>(), any::<u8>()), 0..=OfflineCardClearResult::MAX_CARDS)).prop_map(
            |(pile, cards)| {
                let cards = cards
                    .into_iter()
                    .map(|(physical_card, ok, reason)| CardRemoval { physical_card, ok, reason })
                    .collect();
                OfflineCardClearResult { pile, cards }.into()
            }
        ),
        (pile(), vec(card(), 0..=OfflineCardQuery::MAX_CARDS)).prop_map(|(pile, cards)| OfflineCardQuery {
            pile,
            cards
        }
        .into()),
        (pile(), vec((card(), any::<bool>()), 0..=OfflineCardQueryResult::MAX_CARDS)).prop_map(
            |(pile, cards)| {
                let cards = cards
                    .into_iter()
                    .map(|(physical_card, present)| CardPresence { physical_card, present })
                    .collect();
                OfflineCardQueryResult { pile, cards }.into()
            }
        ),
    ]
}

prop_compose! {
    fn firmware_upgrade()(
        pile in pile(), pile_model in any::<u8>(), power_kw in any::<u16>(), server in text(16),
        port in any::<u16>(), login in (text(16), text(16)), path in text(32), when in any::<u8>(),
        timeout_minutes in any::<u8>(),
    ) -> Message {
        let (user, password) = login;
        FirmwareUpgrade {
            pile, pile_model, power_kw, server, port, user, password, path, when,
            timeout_minutes,
        }
        .into()
    }
}

fn maintenance_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (pile(), any::<bool>(), WorkParams::MIN_POWER_PERCENT..=WorkParams::MAX_POWER_PERCENT).prop_map(
            |(pile, enabled, max_power_percent)| WorkParams { pile, enabled, max_power_percent }.into()
        ),
        (pile(), any::<bool>()).prop_map(|(pile, ok)| WorkParamsResult { pile, ok }.into()),
        (pile(), time()).prop_map(|(pile, time)| TimeSync { pile, time }.into()),
        (pile(), time()).prop_map(|(pile, time)| TimeSyncResult { pile, time }.into()),
        (pile(), any::<bool>()).prop_map(|(pile, ok)| BillingModelPushResult { pile, ok }.into()),
        (pile(), any::<u8>()).prop_map(|(pile, when)| Reboot { pile, when }.into()),
        (pile(), any::<bool>()).prop_map(|(pile, ok)| RebootResult { pile, ok }.into()),
        firmware_upgrade(),
        (pile(), any::<u8>()).prop_map(|(pile, status)| FirmwareUpgradeResult { pile, status }.into()),
    ]
}

fn parking_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (pile(), gun(), any::<u8>(), any::<bool>(), any::<u8>(), any::<u8>()).prop_map(
            |(pile, gun, state, occupied, battery_percent, alarm)| {
                ParkingLockStatus { pile, gun, state, occupied, battery_percent, alarm }.into()
            }
        ),
        (pile(), gun(), any::<bool>())
            .prop_map(|(pile, gun, raise)| ParkingLockControl { pile, gun, raise }.into()),
        (pile(), gun(), any::<bool>()).prop_map(|(pile, gun, ok)| ParkingLockResult { pile, gun, ok }.into()),
    ]
}

fn parallel_message() -> impl Strategy<Value = Message> {
    let ps = || "[0-9]{12}";
    prop_oneof![
        (card_start(), any::<bool>(), ps()).prop_map(|(request, auxiliary, parallel_serial)| {
            ParallelStartRequest { request, auxiliary, parallel_serial }.into()
        }),
        (card_start_verdict(), ps()).prop_map(|(verdict, parallel_serial)| ParallelStartVerdict {
            verdict,
            parallel_serial
        }
        .into()),
        (remote_start(), ps()).prop_map(|(start, parallel_serial)| ParallelRemoteStart {
            start,
            parallel_serial
        }
        .into()),
        (remote_start_result(), any::<bool>(), ps()).prop_map(|(result, auxiliary, parallel_serial)| {
            ParallelRemoteStartResult { result, auxiliary, parallel_serial }.into()
        }),
    ]
}

fn qr_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (pile(), any::<u8>(), "[ -~]{0,150}").prop_map(|(pile, format, prefix)| QrPrefix {
            pile,
            format,
            prefix
        }
        .into()),
        (pile(), any::<bool>()).prop_map(|(pile, ok)| QrPrefixResult { pile, ok }.into()),
    ]
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
        remote_start().prop_map(Message::RemoteStart),
        remote_start_result().prop_map(Message::RemoteStartResult),
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
        bms(),
        card_message(),
        offline_card_message(),
        maintenance_message(),
        parking_message(),
        parallel_message(),
        qr_message(),
        (any::<u8>(), vec(any::<u8>(), 0..=MAX_BODY))
            .prop_filter("a known type would decode as itself", |(kind, _)| {
                Message::decode(&Frame { seq: 0, enc: 0, kind: *kind, body: Bytes::new() })
                    .is_ok_and(|m| matches!(m, Message::Other { .. }))
            })
            .prop_map(|(kind, body)| Message::Other { kind, body: body.into() }),
    ]
}

/// Kinds the codec interprets, to aim random bodies at real decoders.
const KINDS: [u8; 53] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x12, 0x13, // login .. real-time
    0x15, 0x17, 0x19, 0x1B, 0x1D, 0x21, 0x23, 0x25, // BMS
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x3B, 0x40, 0x41, 0x42, // starts, stops, records, balance
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, // offline cards
    0x51, 0x52, 0x55, 0x56, 0x57, 0x58, // work parameters, time, billing push
    0x61, 0x62, 0x63, // parking lock
    0x91, 0x92, 0x93, 0x94, // reboot, firmware
    0xA1, 0xA2, 0xA3, 0xA4, // parallel
    0xF0, 0xF1, // QR prefix
];

#[test]
fn kinds_lists_every_interpreted_type() {
    // Every interpreted type needs a body, so an empty one is `Short`
    // exactly for them.
    for k in 0..=u8::MAX {
        let decoded = Message::decode(&Frame { seq: 0, enc: 0, kind: k, body: Bytes::new() });
        assert_eq!(matches!(decoded, Err(DecodeError::Short { .. })), KINDS.contains(&k), "0x{k:02X}");
    }
}

/// encode → wire → decode gives back `m`.
fn check_round_trip(m: Message, seq: u16) -> Result<(), TestCaseError> {
    let frame = m.encode(seq).unwrap();
    prop_assert_eq!(frame.kind, m.kind());
    let mut wire = BytesMut::new();
    FrameCodec.encode(frame.clone(), &mut wire).unwrap();
    let decoded = FrameCodec.decode(&mut wire).unwrap().unwrap().unwrap();
    prop_assert!(wire.is_empty());
    prop_assert_eq!(&decoded, &frame);
    prop_assert_eq!(Message::decode(&decoded).unwrap(), m);
    Ok(())
}

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
        check_round_trip(m, seq)?;
    }

    // One per group of frames, so each variant gets its share of cases.

    #[test]
    fn bms_frames_round_trip(m in bms(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn card_messages_round_trip(m in card_message(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn offline_card_messages_round_trip(m in offline_card_message(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn maintenance_messages_round_trip(m in maintenance_message(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn parking_messages_round_trip(m in parking_message(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn parallel_messages_round_trip(m in parallel_message(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn qr_messages_round_trip(m in qr_message(), seq in any::<u16>()) {
        check_round_trip(m, seq)?;
    }

    #[test]
    fn arbitrary_input_in_arbitrary_chunks_never_panics(
        segments in vec(segment(), 0..8),
        chunks in vec(1usize..80, 1..40),
    ) {
        let input = segments.concat();
        let mut buf = BytesMut::new();
        let mut consumed = 0;
        'feed: for piece in crate::framing::in_chunks(&input, &chunks) {
            buf.extend_from_slice(piece);
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
