//! `ap3000_wire` against the AP3000 guide's own sample frames, field by
//! field, and the frame cutter on a stream.

use rust_decimal_macros::dec;

use super::*;

/// A sample frame of the guide, as bytes.
fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

/// Cuts `bytes` into frames.
fn cut(bytes: &[u8]) -> (Vec<Frame>, u64) {
    let mut cutter = Cutter::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(f) = cutter.decode(&mut buf).unwrap() {
        out.push(f);
    }
    (out, cutter.skipped)
}

/// The one frame of a sample.
fn sample(s: &str) -> Frame {
    let bytes = hex(s);
    let (frames, skipped) = cut(&bytes);
    assert_eq!((frames.len(), skipped), (1, 0), "{s}");
    let f = frames.into_iter().next().unwrap();
    // Built again from its parts, it is the same bytes.
    assert_eq!(frame(f.phys, f.msg, f.cmd, &f.body).unwrap(), bytes, "{s}");
    f
}

/// The guide's device in most samples: QR 3B37AB04, little-endian.
const PHYS: u32 = 0x04AB_373B;

/// 0x01 and 0x20, §3.0.1 and §3.0.2: the server's 1-byte replies.
#[test]
fn frame_layout_and_checksum_match_the_guide() {
    let f = sample("44 4E 59 0A 00 3B 37 AB 04 B9 00 01 00 D0 02");
    assert_eq!((f.phys, f.msg, f.cmd, read_ack(&f.body)), (PHYS, 0x00B9, cmd::HEARTBEAT_V1, Some(0)));
    assert_eq!(
        frame(PHYS, 0xB9, cmd::REGISTER, &ack(0)).unwrap(),
        hex("44 4E 59 0A 00 3B 37 AB 04 B9 00 20 00 EF 02")
    );
    // 0x87, 0x88, 0x8D: more 1-byte bodies, and 0x81 with none.
    for s in [
        "44 4E 59 0A 00 3B 37 AB 04 01 00 87 00 9E 02",
        "44 4E 59 0A 00 3B 37 AB 04 01 00 88 00 9F 02",
        "44 4E 59 0A 00 3B 37 AB 04 01 00 8D 00 A4 02",
        "44 4E 59 0A 00 3B 37 AB 04 01 00 21 00 38 02",
        "44 4E 59 0A 00 3B 37 AB 04 01 00 03 00 1A 02",
        "44 4E 59 0A 00 3B 37 AB 04 02 00 8A 00 A2 02",
        "44 4E 59 0A 00 3B 37 AB 04 02 00 85 00 9D 02",
    ] {
        assert_eq!(sample(s).body, ack(0));
    }
    assert_eq!(sample("44 4E 59 09 00 3B 37 AB 04 01 00 81 97 02").body, Vec::<u8>::new());
    assert_eq!(sample("44 4E 59 09 00 3B 37 AB 04 01 00 87 9D 02").cmd, cmd::REBOOT);
}

/// §3.0.2: the sample carries two bytes more than the table (the guide
/// warns its samples lag its tables); the table's eight are ours.
#[test]
fn register_matches_the_guide() {
    let f = sample("44 4E 59 13 00 3B 37 AB 04 B9 00 20 7E 00 02 14 21 00 00 00 E4 00 91 04");
    let ours = register(&Register {
        firmware: 0x7E,
        ports: 2,
        virtual_id: 0x14,
        device_type: 0x21,
        work_mode: 0,
        power_board: 0,
    });
    assert_eq!(ours, f.body[..8]);
}

/// §3.0.3: the request and the reply.
#[test]
fn time_matches_the_guide() {
    let req = frame(PHYS, 0xB9, cmd::TIME, &time_request()).unwrap();
    assert_eq!(req, hex("44 4E 59 09 00 3B 37 AB 04 B9 00 22 F0 02"));
    let f = sample("44 4E 59 0D 00 3B 37 AB 04 B9 00 22 09 0E A9 5F 13 04");
    assert_eq!(read_time(&f.body), Some(0x5FA9_0E09));
}

/// §3.1: 220.0 V, two idle ports, signal 9, raw temperature 5 (-60 °C).
#[test]
fn heartbeat_matches_the_guide() {
    let body = heartbeat(dec!(220.0), &[0, 0], 9, Some(-60));
    let bytes = frame(PHYS, 1, cmd::HEARTBEAT, &body).unwrap();
    assert_eq!(bytes, hex("44 4E 59 10 00 3B 37 AB 04 01 00 21 98 08 02 00 00 09 05 EE 02"));
    assert_eq!(temperature(None), 0);
    assert_eq!(temperature(Some(25)), 90);
}

/// §3.2: the swipe (its sample predates the timestamp) and the reply.
#[test]
fn card_matches_the_guide() {
    let f = sample("44 4E 59 11 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 01 00 00 0A 04");
    let ours = card_swipe([0x7A, 0x8D, 0x05, 0xDD], 0, 1, 0, 1_772_352_000);
    assert_eq!((ours.len(), &ours[..8]), (12, &f.body[..]));
    assert_eq!(ours[8..], 1_772_352_000u32.to_le_bytes());

    let f = sample("44 4E 59 14 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 00 10 27 00 00 01 44 04");
    let reply = read_card_reply(&f.body).unwrap();
    assert_eq!(
        reply,
        CardReply { card: [0x7A, 0x8D, 0x05, 0xDD], status: 0, fee_mode: 0, credit: 10_000, port: 1 }
    );
    assert_eq!(reply.balance(), Some(dec!(100.00)));
    assert_eq!(CardReply { fee_mode: fee_mode::MONTHLY, ..reply }.balance(), None);
}

const SAMPLE_ORDER: [u8; 16] =
    [0x20, 0x19, 0x09, 0x01, 0x18, 0x00, 0x00, 0x13, 0x00, 0x30, 0x38, 0x01, 0x02, 0x03, 0x04, 0x05];

/// §3.3: 3600 s, 100.0 W, 0.48 kWh, port 1, online, stop 1 (full); the
/// sample predates the timestamp and occupancy.
#[test]
fn settlement_matches_the_guide() {
    let f = sample(
        "44 4E 59 28 00 3B 37 AB 04 01 00 03 10 0E E8 03 30 00 01 01 00 00 00 00 01 \
         20 19 09 01 18 00 00 13 00 30 38 01 02 03 04 05 E8 03 44 05",
    );
    let ours = settlement(&Settlement {
        elapsed: 3600,
        max_power: dec!(100.0),
        kwh: dec!(0.48),
        port: 1,
        origin: ONLINE,
        card: [0; 4],
        stop_reason: 1,
        order: SAMPLE_ORDER,
        second_max_power: dec!(100.0),
        time: 0x0102_0304,
        occupied_min: 0,
    });
    assert_eq!((ours.len(), &ours[..31]), (37, &f.body[..]));
    assert_eq!(ours[31..], [4, 3, 2, 1, 0, 0]);
}

/// §3.4.2: port 2 (1 on the wire), charging, 3600 s, 0.48 kWh, online,
/// 100.0 W now, 120.0 max, 80.0 min, 100.0 average, 1/4800 kWh in the
/// period, peak 100.0 W, 220.0 V, 0.455 A, 20 °C, no port sensor; the
/// sample predates the timestamp and occupancy.
#[test]
fn report_matches_the_guide() {
    let f = sample(
        "44 4E 59 32 00 3B 37 AB 04 0A 00 06 01 01 10 0E 30 00 01 E8 03 B0 04 20 03 E8 03 \
         20 19 09 01 18 00 00 13 00 30 38 01 02 03 04 05 01 00 E8 03 98 08 C7 01 55 00 DA 08",
    );
    let ours = report(&Report {
        port: 1,
        state: 1,
        elapsed: 3600,
        kwh: dec!(0.48),
        origin: ONLINE,
        power: dec!(100.0),
        max_power: dec!(120.0),
        min_power: dec!(80.0),
        avg_power: dec!(100.0),
        order: SAMPLE_ORDER,
        period_kwh: Decimal::ONE / Decimal::from(4800),
        peak_power: dec!(100.0),
        voltage: dec!(220.0),
        current: dec!(0.455),
        ambient: Some(20),
        port_temp: None,
        time: 7,
        occupied_min: 0,
    });
    assert_eq!((ours.len(), &ours[..41]), (47, &f.body[..]));
    assert_eq!(ours[41..], [7, 0, 0, 0, 0, 0]);
}

/// §4.2: the start (without the V7.5+ tail) and the pile's reply.
#[test]
fn start_stop_matches_the_guide() {
    let f = sample(
        "44 4E 59 26 00 3B 37 AB 04 02 00 82 00 64 01 00 00 01 01 00 00 12 34 56 78 12 34 56 78 \
         12 34 56 78 12 34 56 78 80 70 88 13 F8 08",
    );
    let order = [0x12, 0x34, 0x56, 0x78].repeat(4).try_into().unwrap();
    let s = read_start_stop(&f.body).unwrap();
    assert_eq!(
        s,
        StartStop {
            fee_mode: fee_mode::TIME,
            credit: 356,
            port: 1,
            command: StartStop::START,
            limit: 0,
            order,
            max_duration: 28_800,
            overload_power: dec!(500.0),
            full_power_w: 0,
            full_power_max_min: 0,
        }
    );
    assert_eq!((s.limit_secs(), s.limit_kwh(), s.full_power()), (None, None, None));
    let mut tail = f.body.clone();
    tail.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 30, 5]);
    let s = read_start_stop(&tail).unwrap();
    assert_eq!((s.full_power(), s.full_power_max_min), (Some(30), 5));
    assert_eq!(read_start_stop(&f.body[..28]), None);

    let reply = frame(PHYS, 2, cmd::START_STOP, &start_stop_reply(0, order, 1, 0)).unwrap();
    assert_eq!(
        reply,
        hex("44 4E 59 1D 00 3B 37 AB 04 02 00 82 00 12 34 56 78 12 34 56 78 12 34 56 78 12 34 56 78 01 00 00 FE 06")
    );
}

/// §4.2.1 and §4.4.1 (its sample predates the voltages).
#[test]
fn adjust_and_limits_match_the_guide() {
    let f = sample("44 4E 59 0D 00 3B 37 AB 04 02 00 8A 00 01 80 70 96 03");
    assert_eq!(read_adjust(&f.body), Some(Adjust { mode: 0, port: 1, value: 28_800 }));
    let f = sample("44 4E 59 0D 00 3B 37 AB 04 02 00 85 A0 8C 20 4E 3A 04");
    let limits = read_limits(&f.body).unwrap();
    assert_eq!(limits, Limits { max_charge_s: 36_000, overload_power: dec!(2000.0), voltage: None });
    let mut body = f.body.clone();
    body.extend_from_slice(&[0x8C, 0x0A, 0xE8, 0x03]);
    assert_eq!(read_limits(&body).unwrap().voltage, Some((dec!(270.0), dec!(100.0))));
}

/// §3.4.5 has no sample: the table's three bytes.
#[test]
fn alarm_is_three_bytes() {
    assert_eq!(alarm(4, 0, 0), [4, 0, 0]);
}

/// §1.0.2 note 6: split, stuck together, and garbage or bad checksums
/// skipped to the next header.
#[test]
fn the_cutter_copes_with_a_stream() {
    let a = hex("44 4E 59 0A 00 3B 37 AB 04 01 00 87 00 9E 02");
    let b = hex("44 4E 59 09 00 3B 37 AB 04 01 00 81 97 02");
    let mut bad = b.clone();
    *bad.last_mut().unwrap() ^= 1;
    let mut stream = b"junkDN".to_vec();
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&a);
    stream.extend_from_slice(b"DNY\xFF\xFF");
    stream.extend_from_slice(&b);
    let (frames, skipped) = cut(&stream);
    assert_eq!(frames.iter().map(|f| f.cmd).collect::<Vec<_>>(), [0x87, 0x81]);
    assert_eq!(skipped, 6 + bad.len() as u64 + 5);

    // Byte by byte.
    let mut cutter = Cutter::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in a.iter().chain(&b) {
        buf.extend_from_slice(&[*byte]);
        while let Some(f) = cutter.decode(&mut buf).unwrap() {
            got.push(f.cmd);
        }
    }
    assert_eq!((got, cutter.skipped), (vec![0x87, 0x81], 0));
}

#[test]
fn bodies_too_long_for_a_packet_are_refused() {
    assert_eq!(frame(1, 1, cmd::HEARTBEAT, &[0; 242]).unwrap().len(), MAX_PACKET);
    assert_eq!(frame(1, 1, cmd::HEARTBEAT, &[0; 243]), Err(TooLong { cmd: cmd::HEARTBEAT, body_len: 243 }));
}

#[test]
fn units_round_and_clamp() {
    assert_eq!((deciwatts(dec!(28.7)), deciwatts(dec!(0.05)), deciwatts(dec!(-3))), (287, 1, 0));
    assert_eq!((deciwatts(dec!(7000)), centi_kwh(dec!(0.63)), decivolts(dec!(220))), (65_535, 63, 2200));
}
