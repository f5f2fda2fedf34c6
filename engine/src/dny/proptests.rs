//! Property tests: every message survives encode → wire → decode unchanged
//! over the whole range its fields can carry, and no input makes the codec
//! panic.

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tokio_util::codec::{Decoder, Encoder};

use super::*;

/// A `Decimal` with `dp` places whose wire integer is at most `max`.
fn dec(dp: u32, max: u64) -> impl Strategy<Value = Decimal> {
    (0..=max).prop_map(move |n| Decimal::from_i128_with_scale(n.into(), dp))
}

fn power() -> impl Strategy<Value = Decimal> {
    dec(1, u16::MAX.into())
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    any::<u32>().prop_map(|t| DateTime::from_timestamp(i64::from(t), 0).unwrap())
}

/// Printable ASCII of at most 16 bytes.
fn order() -> impl Strategy<Value = String> {
    "[ -~]{0,16}"
}

fn temp() -> impl Strategy<Value = i16> {
    -65i16..=190
}

fn ack() -> impl Strategy<Value = Ack> {
    any::<u8>().prop_map(|result| Ack { result })
}

prop_compose! {
    fn register()(
        firmware in any::<u16>(), ports in any::<u8>(), virtual_id in any::<u8>(),
        device_type in any::<u8>(), work_mode in any::<u8>(), power_board in any::<u16>(),
    ) -> Up {
        Up::Register(Register { firmware, ports, virtual_id, device_type, work_mode, power_board })
    }
}

prop_compose! {
    fn heartbeat()(
        voltage in dec(1, u16::MAX.into()), ports in vec(any::<u8>(), 0..=MAX_DATA - 5),
        signal in any::<u8>(), temperature in temp(),
    ) -> Up {
        Up::Heartbeat(Heartbeat { voltage, ports, signal, temperature })
    }
}

prop_compose! {
    fn report()(
        head in (any::<u8>(), any::<u8>(), any::<u16>(), dec(2, u16::MAX.into())),
        powers in (power(), power(), power()),
        electric in (dec(1, u16::MAX.into()), dec(2, u16::MAX.into()), temp()),
        order in order(),
    ) -> Up {
        let (port, status, elapsed, energy) = head;
        let (avg_power, max_power, min_power) = powers;
        let (voltage, current, port_temp) = electric;
        Up::ChargingReport(ChargingReport {
            port, status, elapsed, energy, avg_power, max_power, min_power, voltage, current, port_temp, order,
        })
    }
}

prop_compose! {
    fn settlement()(
        head in (any::<u8>(), any::<u16>(), dec(2, u16::MAX.into()), power()),
        order in order(), stop_reason in any::<u8>(), started in time(), ended in time(),
    ) -> Up {
        let (port, elapsed, energy, max_power) = head;
        Up::Settlement(Settlement { port, elapsed, energy, max_power, order, stop_reason, started, ended })
    }
}

fn up() -> impl Strategy<Value = Up> {
    prop_oneof![
        register(),
        heartbeat(),
        Just(Up::TimeRequest(TimeRequest)),
        (any::<u32>(), any::<u8>(), any::<u8>()).prop_map(|(card, card_type, port)| CardSwipe {
            card,
            card_type,
            port
        }
        .into()),
        (any::<u8>(), any::<u8>(), order()).prop_map(|(port, result, order)| StartStopReply {
            port,
            result,
            order
        }
        .into()),
        report(),
        settlement(),
        (any::<u8>(), any::<u8>(), any::<u16>())
            .prop_map(|(kind, port, value)| Alarm { kind, port, value }.into()),
        ack().prop_map(Up::AdjustReply),
        ack().prop_map(Up::LimitsReply),
        ack().prop_map(Up::RebootReply),
        (any::<u8>(), vec(any::<u8>(), 0..=MAX_DATA))
            .prop_filter("a known command would decode as itself", |(cmd, _)| {
                matches!(
                    Up::decode(&Frame { phys: 0, msg: 0, cmd: *cmd, data: Bytes::from(vec![0; 64]) }),
                    Ok(Up::Other { .. })
                )
            })
            .prop_map(|(cmd, data)| Up::Other { cmd, data: data.into() }),
    ]
}

prop_compose! {
    fn start_stop()(
        head in (any::<u8>(), dec(2, u32::MAX.into()), any::<u8>(), any::<u8>(), any::<u16>()),
        order in order(),
        tail in (any::<u16>(), power(), power(), any::<u8>()),
    ) -> Down {
        let (fee_mode, balance, port, command, limit) = head;
        let (max_duration, overload_power, full_power, full_hold) = tail;
        Down::StartStop(StartStop {
            fee_mode, balance, port, command, limit, order, max_duration, overload_power, full_power, full_hold,
        })
    }
}

prop_compose! {
    fn limits()(
        max_charge_s in 0..=Limits::MAX_CHARGE_S, port_overload in power(),
        unit_overload in dec(0, u16::MAX.into()), over_voltage in dec(1, u16::MAX.into()),
        under_voltage in dec(1, u16::MAX.into()), full_power in power(),
    ) -> Down {
        Down::Limits(Limits { max_charge_s, port_overload, unit_overload, over_voltage, under_voltage, full_power })
    }
}

fn down() -> impl Strategy<Value = Down> {
    prop_oneof![
        ack().prop_map(Down::RegisterReply),
        ack().prop_map(Down::HeartbeatReply),
        time().prop_map(|now| Time { now }.into()),
        (any::<u32>(), any::<u8>(), dec(2, u32::MAX.into())).prop_map(|(card, result, balance)| CardReply {
            card,
            result,
            balance
        }
        .into()),
        start_stop(),
        (any::<u8>(), order(), any::<u8>()).prop_map(|(port, order, result)| SettlementAck {
            port,
            order,
            result
        }
        .into()),
        ack().prop_map(Down::AlarmAck),
        (any::<u8>(), order(), any::<u16>(), power()).prop_map(|(port, order, duration, power_limit)| {
            Adjust { port, order, duration, power_limit }.into()
        }),
        limits(),
        Just(Down::Reboot(Reboot)),
        (any::<u8>(), vec(any::<u8>(), 0..=MAX_DATA))
            .prop_filter("a known command would decode as itself", |(cmd, _)| {
                matches!(
                    Down::decode(&Frame { phys: 0, msg: 0, cmd: *cmd, data: Bytes::from(vec![0; 64]) }),
                    Ok(Down::Other { .. })
                )
            })
            .prop_map(|(cmd, data)| Down::Other { cmd, data: data.into() }),
    ]
}

/// Commands the codec interprets, to aim random data at real decoders.
const CMDS: [u8; 11] = [0x02, 0x03, 0x06, 0x20, 0x21, 0x22, 0x42, 0x82, 0x85, 0x87, 0x8A];

fn wire(frame: Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    StreamCodec::new().encode(frame, &mut out).unwrap();
    out.to_vec()
}

/// A stretch of input: noise, the two unframed units, or a well-formed
/// frame around random data (so the body decoders see random bytes too).
fn segment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        Just(b"link".to_vec()),
        "[0-9A-Fa-f]{20}".prop_map(String::into_bytes),
        // Bytes that look like the start of something.
        prop::sample::select(vec![&b"D"[..], b"DN", b"DNY", b"l", b"lin", b"8986"]).prop_map(<[u8]>::to_vec),
        (any::<u32>(), any::<u16>(), prop::sample::select(&CMDS[..]), vec(any::<u8>(), 0..=MAX_DATA))
            .prop_map(|(phys, msg, cmd, data)| wire(Frame { phys, msg, cmd, data: data.into() })),
        (up(), any::<u32>()).prop_map(|(m, phys)| wire(m.encode(phys, 1).unwrap())),
        (down(), any::<u32>()).prop_map(|(m, phys)| wire(m.encode(phys, 1).unwrap())),
    ]
}

fn through_the_codec(frame: &Frame) -> Frame {
    let mut buf = BytesMut::from(&wire(frame.clone())[..]);
    let item = StreamCodec::new().decode(&mut buf).unwrap().unwrap().unwrap();
    assert!(buf.is_empty());
    match item {
        Unit::Frame(f) => f,
        other => panic!("expected a frame, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_up_message_round_trips(m in up(), phys in any::<u32>(), msg in any::<u16>()) {
        let frame = m.encode(phys, msg).unwrap();
        prop_assert_eq!((frame.phys, frame.msg, frame.cmd), (phys, msg, m.cmd()));
        let decoded = through_the_codec(&frame);
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(Up::decode(&decoded).unwrap(), m);
    }

    #[test]
    fn every_down_message_round_trips(m in down(), phys in any::<u32>(), msg in any::<u16>()) {
        let frame = m.encode(phys, msg).unwrap();
        prop_assert_eq!((frame.phys, frame.msg, frame.cmd), (phys, msg, m.cmd()));
        let decoded = through_the_codec(&frame);
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(Down::decode(&decoded).unwrap(), m);
    }

    #[test]
    fn arbitrary_input_in_arbitrary_chunks_never_panics(
        segments in vec(segment(), 0..8),
        chunks in vec(1usize..80, 1..40),
    ) {
        let input = segments.concat();
        let mut codec = StreamCodec::new();
        let mut buf = BytesMut::new();
        let mut rest = &input[..];
        let mut sizes = chunks.iter().cycle();
        let mut accounted = 0;
        let mut fatal = false;
        'feed: while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(Ok(Unit::Frame(frame)))) => {
                        accounted += frame.data.len() + 14;
                        let _ = Up::decode(&frame).map(|m| m.encode(frame.phys, frame.msg));
                        let _ = Down::decode(&frame).map(|m| m.encode(frame.phys, frame.msg));
                    }
                    Ok(Some(Ok(Unit::Keepalive))) => accounted += 4,
                    Ok(Some(Ok(Unit::Iccid(iccid)))) => {
                        prop_assert_eq!(iccid.len(), ICCID_LEN);
                        accounted += ICCID_LEN;
                    }
                    Ok(Some(Err(FrameFault::Garbage { skipped }))) => {
                        prop_assert!(skipped > 0);
                        accounted += skipped;
                    }
                    Ok(Some(Err(FrameFault::BadChecksum { .. }))) => {}
                    Ok(None) => break,
                    Err(_) => {
                        fatal = true;
                        break 'feed;
                    }
                }
            }
        }
        if !fatal {
            // Nothing is lost or invented: what was not yielded is still
            // buffered or being skipped.
            while let Ok(Some(item)) = codec.decode_eof(&mut buf) {
                match item {
                    Ok(Unit::Frame(frame)) => accounted += frame.data.len() + 14,
                    Ok(Unit::Keepalive) => accounted += 4,
                    Ok(Unit::Iccid(_)) => accounted += ICCID_LEN,
                    Err(FrameFault::Garbage { skipped }) => accounted += skipped,
                    Err(FrameFault::BadChecksum { .. }) => {}
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert!(accounted <= input.len());
        }
    }

    #[test]
    fn well_formed_streams_decode_exactly(
        items in vec((up(), any::<u32>(), any::<u16>()), 0..6),
        chunk in 1usize..64,
    ) {
        let mut input = b"89860412345678901234".to_vec();
        for (m, phys, msg) in &items {
            input.extend(wire(m.encode(*phys, *msg).unwrap()));
            input.extend_from_slice(b"link");
        }
        let mut codec = StreamCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                got.push(item.unwrap());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), 1 + 2 * items.len());
        prop_assert_eq!(&got[0], &Unit::Iccid("89860412345678901234".into()));
        for (pair, (m, _, _)) in got[1..].chunks(2).zip(&items) {
            let Unit::Frame(frame) = &pair[0] else { panic!("expected a frame, got {:?}", pair[0]) };
            prop_assert_eq!(&Up::decode(frame).unwrap(), m);
            prop_assert_eq!(&pair[1], &Unit::Keepalive);
        }
    }

    #[test]
    fn arbitrary_data_never_panics(cmd in any::<u8>(), data in vec(any::<u8>(), 0..=MAX_DATA)) {
        let frame = Frame { phys: 1, msg: 2, cmd, data: data.into() };
        // Encoding may refuse what decoding tolerated, but never panics.
        if let Ok(m) = Up::decode(&frame) {
            let _ = m.encode(frame.phys, frame.msg);
        }
        if let Ok(m) = Down::decode(&frame) {
            let _ = m.encode(frame.phys, frame.msg);
        }
    }
}
