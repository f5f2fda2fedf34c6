//! Property tests: every message survives encode → wire → decode unchanged
//! over the whole range its fields can carry, in every version form, and no
//! input makes the codec panic.

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::option;
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

fn order() -> impl Strategy<Value = OrderNo> {
    any::<[u8; 16]>().prop_map(OrderNo)
}

/// A sensor's reading, or no sensor.
fn temp() -> impl Strategy<Value = Option<i16>> {
    option::of(-64i16..=190)
}

fn ack() -> impl Strategy<Value = Ack> {
    any::<u8>().prop_map(|result| Ack { result })
}

/// How many of `n` appended fields are present: each only after the ones
/// before it, as versions grew.
fn form(n: usize) -> impl Strategy<Value = usize> {
    0..=n
}

fn credit_for(mode: u8) -> BoxedStrategy<Credit> {
    match mode {
        fee_mode::MONTHLY => time().prop_map(Credit::ValidUntil).boxed(),
        _ => dec(2, u32::MAX.into()).prop_map(Credit::Balance).boxed(),
    }
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
    fn old_heartbeat()(
        head in (any::<u16>(), dec(1, u16::MAX.into())),
        ports in vec((any::<u8>(), power(), power()), 0..=(MAX_DATA - 10) / 5),
        tail in (any::<u8>(), any::<u8>(), any::<u8>(), temp(), option::of(any::<u8>())),
    ) -> Up {
        let (firmware, voltage) = head;
        let (virtual_id, signal, device_type, temperature, work_mode) = tail;
        let ports = ports.into_iter().map(|(status, power, peak_power)| OldPort { status, power, peak_power }).collect();
        Up::OldHeartbeat(OldHeartbeat { firmware, voltage, ports, virtual_id, signal, device_type, temperature, work_mode })
    }
}

prop_compose! {
    fn card_swipe()(
        card in any::<[u8; 4]>(), card_type in any::<u8>(), port in any::<u8>(),
        card_balance in dec(2, u16::MAX.into()), time in option::of(time()),
        card2 in option::of(vec(any::<u8>(), 0..=64)),
    ) -> Up {
        let card2 = card2.filter(|_| time.is_some());
        Up::CardSwipe(CardSwipe { card, card_type, port, card_balance, time, card2 })
    }
}

prop_compose! {
    fn report()(
        head in (any::<u8>(), any::<u8>(), any::<u16>(), dec(2, u16::MAX.into()), any::<u8>()),
        powers in (power(), power(), power(), power()),
        order in order(),
        tail in (any::<u16>(), power(), power(), dec(3, u16::MAX.into()), temp(), temp(), time(), any::<u16>()),
        n in form(6),
    ) -> Up {
        let (port, status, elapsed, energy, origin) = head;
        let (power, max_power, min_power, avg_power) = powers;
        let (period, peak, voltage, current, ambient, port_temp, t, occupied) = tail;
        Up::ChargingReport(ChargingReport {
            port, status, elapsed, energy, origin, power, max_power, min_power, avg_power, order,
            period_energy: (n > 0).then_some(period),
            peak_power: (n > 1).then_some(peak),
            electric: (n > 2).then_some(Electric { voltage, current }),
            temperatures: (n > 3).then_some((ambient, port_temp)),
            time: (n > 4).then_some(t),
            occupied_min: (n > 5).then_some(occupied),
        })
    }
}

prop_compose! {
    fn settlement()(
        head in (any::<u16>(), power(), dec(2, u16::MAX.into()), any::<u8>(), any::<u8>()),
        card in any::<[u8; 4]>(), stop_reason in any::<u8>(), order in order(),
        tail in (power(), time(), any::<u16>()), n in form(3),
    ) -> Up {
        let (elapsed, max_power, energy, port, origin) = head;
        let (second, t, occupied) = tail;
        Up::Settlement(Settlement {
            elapsed, max_power, energy, port, origin, card, stop_reason, order,
            second_max_power: (n > 0).then_some(second),
            time: (n > 1).then_some(t),
            occupied_min: (n > 2).then_some(occupied),
        })
    }
}

fn up() -> impl Strategy<Value = Up> {
    prop_oneof![
        register(),
        heartbeat(),
        old_heartbeat(),
        Just(Up::TimeRequest(TimeRequest)),
        card_swipe(),
        (any::<u8>(), order(), any::<u8>(), any::<u16>())
            .prop_map(|(result, order, port, pending)| StartStopReply { result, order, port, pending }.into()),
        report(),
        settlement(),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(kind, port, trigger)| Alarm { kind, port, trigger }.into()),
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

fn extras() -> impl Strategy<Value = StartExtras> {
    (any::<[u8; 2]>(), any::<u16>(), any::<[u8; 5]>()).prop_map(
        |([qr_light, long_charge], extra_float_s, b)| StartExtras {
            qr_light,
            long_charge,
            extra_float_s,
            short_circuit_check: b[0],
            ignore_unplug: b[1],
            force_full_stop: b[2],
            full_power_w: b[3],
            full_power_max_min: b[4],
        },
    )
}

fn start_stop() -> impl Strategy<Value = Down> {
    any::<u8>().prop_flat_map(|fee_mode| {
        (
            credit_for(fee_mode),
            (any::<u8>(), any::<u8>(), any::<u16>()),
            order(),
            (any::<u16>(), power()),
            option::of(extras()),
        )
            .prop_map(
                move |(credit, (port, command, limit), order, (max_duration, overload_power), extras)| {
                    Down::StartStop(StartStop {
                        fee_mode,
                        credit,
                        port,
                        command,
                        limit,
                        order,
                        max_duration,
                        overload_power,
                        extras,
                    })
                },
            )
    })
}

fn card_reply() -> impl Strategy<Value = Down> {
    any::<u8>().prop_flat_map(|fee_mode| {
        (any::<[u8; 4]>(), any::<u8>(), credit_for(fee_mode), any::<u8>()).prop_map(
            move |(card, status, credit, port)| {
                Down::CardReply(CardReply { card, status, fee_mode, credit, port })
            },
        )
    })
}

prop_compose! {
    fn limits()(
        max_charge_s in any::<u16>(), overload_power in power(),
        voltage in option::of((dec(1, u16::MAX.into()), dec(1, u16::MAX.into()))),
    ) -> Down {
        let voltage = voltage.map(|(over, under)| VoltageLimits { over, under });
        Down::Limits(Limits { max_charge_s, overload_power, voltage })
    }
}

fn down() -> impl Strategy<Value = Down> {
    prop_oneof![
        ack().prop_map(Down::RegisterReply),
        ack().prop_map(Down::HeartbeatReply),
        ack().prop_map(Down::OldHeartbeatReply),
        time().prop_map(|now| Time { now }.into()),
        card_reply(),
        start_stop(),
        ack().prop_map(Down::SettlementAck),
        Just(Down::Query(Empty)),
        (any::<u8>(), any::<u8>(), any::<u16>())
            .prop_map(|(mode, port, value)| Adjust { mode, port, value }.into()),
        limits(),
        Just(Down::Reboot(Empty)),
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
const CMDS: [u8; 13] = [0x01, 0x02, 0x03, 0x06, 0x20, 0x21, 0x22, 0x42, 0x81, 0x82, 0x85, 0x87, 0x8A];

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
        let mut accounted = 0;
        let mut fatal = false;
        'feed: for piece in crate::framing::in_chunks(&input, &chunks) {
            buf.extend_from_slice(piece);
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
                    // The only other fault an AP3000 stream has.
                    Ok(Some(Err(fault))) => prop_assert_eq!(fault.kind_label(), "bad_checksum"),
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
                    Err(fault) => prop_assert_eq!(fault.kind_label(), "bad_checksum"),
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
