//! `ykc_wire` against the YKC v1.6 spec's own sample frames, field by
//! field, and the frame cutter on a stream.

use rust_decimal_macros::dec;

use super::*;

/// A sample frame of the spec, as bytes.
fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
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

/// The one frame of a sample. Most of the spec's checksums are wrong
/// (`crc_right` says which are not); those that are right carry
/// `byCRCHi` first, against §3.1's text. Either way the frame is cut
/// with a good checksum in both orders, and built again from its parts
/// it is the sample's bytes, the checksum in the text's order.
fn sample(s: &str, crc_right: bool) -> Frame {
    let mut bytes = hex(s);
    let n = bytes.len();
    assert_eq!(usize::from(bytes[1]) + 4, n, "{s}: the length byte");
    let sent = [bytes[n - 2], bytes[n - 1]];
    assert_eq!(crc_matches(&bytes[2..n - 2], sent), crc_right, "{s}: the spec's checksum");
    let ours = crc_bytes(&bytes[2..n - 2]);
    if crc_right {
        assert_eq!(sent, [ours[1], ours[0]], "{s}: the samples' order");
    }
    bytes[n - 2..].copy_from_slice(&ours);
    let swapped = [&bytes[..n - 2], &[ours[1], ours[0]][..]].concat();
    let (frames, skipped) = cut(&swapped);
    assert_eq!((frames.len(), skipped), (1, 0), "{s}: the other order");
    let (frames, skipped) = cut(&bytes);
    assert_eq!((frames.len(), skipped), (1, 0), "{s}");
    let f = frames.into_iter().next().unwrap();
    assert_eq!(f.enc, 0);
    assert_eq!(frame(f.seq, f.kind, &f.body).unwrap(), bytes, "{s}");
    f
}

/// The physical card of the spec's samples.
const CARD: [u8; 8] = [0, 0, 0, 0, 0xD1, 0x4B, 0x0A, 0x54];

/// 2020-03-16 17:14:47, a Monday: `98B70E11100314` in the samples.
fn spec_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2020, 3, 16).unwrap().and_hms_opt(17, 14, 47).unwrap()
}

/// §13.2's tables, copied from the spec, give CRC-16/MODBUS (check value
/// 0x4B37 for "123456789", whose low byte the table's `byCRCHi` holds).
#[test]
fn the_specs_crc_tables_are_modbus() {
    fn bitwise(data: &[u8]) -> u16 {
        let mut crc = 0xFFFFu16;
        for &b in data {
            crc ^= u16::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
            }
        }
        crc
    }
    assert_eq!(modbus_crc(b"123456789"), 0x374B);
    assert_eq!(crc_bytes(b"123456789"), [0x4B, 0x37]);
    let data: Vec<u8> = (0..=255u8).collect();
    for n in 0..data.len() {
        assert_eq!(modbus_crc(&data[..n]).swap_bytes(), bitwise(&data[..n]), "{n}");
    }
}

/// §3.2: the samples' time, whose day byte leaves the weekday zero; ours
/// carries it (Monday, 1 in D7-D5).
#[test]
fn cp56_time_matches_the_spec() {
    assert_eq!(read_cp56(&hex("98B70E11100314")), Some(spec_time()));
    assert_eq!(cp56(spec_time()), hex("98B70E11300314")[..]);
    assert_eq!(read_cp56(&cp56(spec_time())), Some(spec_time()));
    assert_eq!(read_cp56(&hex("98B70E11000314")), None);
}

#[test]
fn bcd_fields() {
    assert_eq!(bcd("32010200000001", 7), hex("32010200000001"));
    assert_eq!(bcd("123", 2), [0x01, 0x23]);
    assert_eq!(read_bcd(&hex("0000001000000573")), "0000001000000573");
    assert_eq!((bcd_u8(1), bcd_u8(12), read_bcd_u8(0x12), read_bcd_u8(0x1A)), (0x01, 0x12, Some(12), None));
    assert_eq!((bcd_u16(100), read_bcd_u16(&[0x01, 0x00])), ([0x01, 0x00], Some(100)));
    assert!(is_pile_id("32010200000001") && !is_pile_id("320102000000011") && !is_pile_id("P1"));
}

/// §6.1: "0F" is V1.5, "V4.1.50" the firmware, LAN, a SIM of 0101..., and
/// carrier 4 (other).
#[test]
fn login_matches_the_spec() {
    let f = sample(
        "68 22 0000 00 01 55031412782305 00 02 0F 56342E312E353000 01 01010101010101010101 04 675A",
        false,
    );
    assert_eq!(f.kind, kind::LOGIN);
    let ours = login(&Login {
        pile: "55031412782305".into(),
        pile_type: Login::DC,
        guns: 2,
        protocol: 0x0F,
        firmware: "V4.1.50".into(),
        net: 1,
        sim: "01010101010101010101".into(),
        carrier: 4,
    });
    assert_eq!(ours, f.body);
}

/// §6.2, one of three samples with a right checksum.
#[test]
fn login_reply_matches_the_spec() {
    let f = sample("68 0C 0000 00 02 55031412782305 00 DA4C", true);
    assert_eq!(read_login_reply(&f.body), Some(("55031412782305".into(), true)));
    assert_eq!(read_login_reply(&hex("55031412782305 01")), Some(("55031412782305".into(), false)));
}

/// §6.3.
#[test]
fn heartbeat_matches_the_spec() {
    let f = sample("68 0D 0001 00 03 32010200000001 01 00 6890", false);
    assert_eq!(heartbeat("32010200000001", 1, false), f.body);
    assert_eq!(heartbeat("32010200000001", 12, true), hex("32010200000001 12 01"));
}

/// §6.5 and §6.6 (a right checksum).
#[test]
fn billing_model_check_matches_the_spec() {
    let f = sample("68 0D 0002 00 05 32010200000001 0001 9C00", false);
    assert_eq!(billing_model_check("32010200000001", 1), f.body);
    let f = sample("68 0E CE04 00 06 55031412782305 0000 00 8E2F", true);
    assert_eq!(read_billing_model_check_reply(&f.body), Some(("55031412782305".into(), 0, false)));
}

/// §6.7, §6.8 and §9.5: the same model as 0x0A and as 0x58. Its notes
/// say 2, 2, 4 and 5 yuan of energy and 0.4 of service; the bytes, 5
/// decimals little-endian, say 2, 3, 4, 5 and 0.16540. Every half hour
/// is rate 0 (sharp).
#[test]
fn billing_model_matches_the_spec() {
    let f = sample("68 0B 0200 00 09 55031412782305 DD25", false);
    assert_eq!(billing_model_request("55031412782305"), f.body);
    let rates = "400D0300 9C400000 E0930400 9C400000 801A0600 9C400000 20A10700 9C400000";
    let zeros = "00".repeat(48);
    for (head, kind) in
        [("68 5E 0200 00 0A", kind::BILLING_MODEL), ("68 5E 0025 00 58", kind::BILLING_MODEL_SET)]
    {
        let f = sample(&format!("{head} 55031412782305 0100 {rates} 00 {zeros} 5E60"), false);
        assert_eq!(f.kind, kind);
        let m = read_billing_model(&f.body).unwrap();
        assert_eq!(
            (m.pile.as_str(), m.model, m.loss_ratio, m.half_hours),
            ("55031412782305", 100, 0, [0; 48])
        );
        let energy: Vec<Decimal> = m.rates.iter().map(|r| r.energy).collect();
        assert_eq!(energy, [dec!(2), dec!(3), dec!(4), dec!(5)]);
        assert!(m.rates.iter().all(|r| r.service == dec!(0.16540)));
        assert_eq!(m.rate_at(23 * 60 + 59), Some(m.rates[rate::SHARP]));
        assert_eq!(read_billing_model(&f.body[..89]), None);
    }
    let f = sample("68 0C 0009 00 57 32010200000001 01 C1A9", false);
    assert_eq!(billing_model_set_result("32010200000001", true), f.body);
}

/// §7.1 and §7.2. Two of §7.2's notes contradict their bytes: "0200
/// (输出电压：0)" is 0.2 V in the table's unit, and "00 (枪线温度：10)"
/// is -50 °C with the table's offset; the bytes, read as the table says,
/// are what we build.
#[test]
fn realtime_matches_the_spec() {
    let f = sample("68 0C 0000 00 12 32010200000001 01 0069", false);
    assert_eq!(read_realtime_request(&f.body), Some(("32010200000001".into(), 1)));
    let f = sample(
        "68 40 1A03 00 13 00000000000000000000000000000000 55031412782305 01 00 01 01 0200 0000 00 \
         0000000000000000 00 00 0000 0000 00000000 00000000 00000000 0000 9DAC",
        false,
    );
    let rt = RealTime {
        serial: "0".repeat(32),
        pile: "55031412782305".into(),
        gun: 1,
        status: status::OFFLINE,
        holstered: 1,
        plugged: true,
        voltage: dec!(0.2),
        current: dec!(0),
        cable_temp: -50,
        cable_code: [0; 8],
        soc: 0,
        battery_max_temp: -50,
        minutes_charged: 0,
        minutes_left: 0,
        kwh: dec!(0),
        loss_kwh: dec!(0),
        amount: dec!(0),
        hardware_faults: 0,
    };
    assert_eq!(realtime(&rt), f.body);
    // The units of a charging gun.
    let charging = RealTime {
        status: status::CHARGING,
        voltage: dec!(380.0),
        current: dec!(94.7),
        cable_temp: 35,
        kwh: dec!(12.3456),
        loss_kwh: dec!(12.3456),
        amount: dec!(18.5184),
        minutes_charged: 3,
        ..rt
    };
    let body = realtime(&charging);
    assert_eq!(body.len(), 60);
    assert_eq!(body[27..32], [0xD8, 0x0E, 0xB3, 0x03, 85]);
    assert_eq!(body[42..44], [3, 0]);
    assert_eq!(body[46..58], hex("40E20100 40E20100 60D30200"));
}

/// §8.1 and §8.2 (a right checksum: a refusal, 0x01 no account).
#[test]
fn card_start_matches_the_spec() {
    let f = sample(
        &format!("68 37 0004 00 31 32010200000001 01 01 00 00000000D14B0A54 {} F496", "00".repeat(33)),
        false,
    );
    let start = CardStart {
        pile: "32010200000001".into(),
        gun: 1,
        mode: CardStart::MODE_CARD,
        password_required: false,
        card: CARD,
        password_md5: [0; 16],
        vin: String::new(),
    };
    assert_eq!(card_start(&start), f.body);
    // A VIN goes reversed.
    let vin = card_start(&CardStart { mode: CardStart::MODE_VIN, vin: "LSVAB".into(), ..start });
    assert_eq!(vin[34..40], *b"BAVSL\0");

    let f = sample(
        "68 2A 0004 00 32 32010200000001012018061219595785 32010200000001 01 0000000000000000 00000000 \
         00 01 E829",
        true,
    );
    let v = read_card_verdict(&f.body).unwrap();
    assert_eq!(
        v,
        CardVerdict {
            serial: "32010200000001012018061219595785".into(),
            pile: "32010200000001".into(),
            gun: 1,
            logical_card: [0; 8],
            balance: dec!(0),
            ok: false,
            reason: 0x01,
        }
    );
    assert_eq!(read_card_verdict(&f.body[..37]), None);
}

/// §8.3 and §8.4.
#[test]
fn remote_start_matches_the_spec() {
    let f = sample(
        "68 30 007C 00 34 55031412782305012018061914444680 55031412782305 01 0000001000000573 \
         00000000D14B0A54 A0860100 4622",
        false,
    );
    let s = read_remote_start(&f.body).unwrap();
    assert_eq!(
        s,
        RemoteStart {
            serial: "55031412782305012018061914444680".into(),
            pile: "55031412782305".into(),
            gun: 1,
            logical_card: [0, 0, 0, 0x10, 0, 0, 0x05, 0x73],
            physical_card: CARD,
            balance: dec!(1000.00),
        }
    );
    let f = sample("68 1E 0002 00 33 32010200000000111511161555350260 32010200000001 01 01 00 0FE2", false);
    let ours = remote_start_result(
        "32010200000000111511161555350260",
        "32010200000001",
        1,
        true,
        start_refusal::NONE,
    );
    assert_eq!(ours, f.body);
}

/// §8.5 and §8.6.
#[test]
fn remote_stop_matches_the_spec() {
    let f = sample("68 0C 0003 00 36 32010200000001 01 C1A9", false);
    assert_eq!(read_remote_stop(&f.body), Some(("32010200000001".into(), 1)));
    let f = sample("68 0E 0003 00 35 32010200000001 01 01 00 907E", false);
    assert_eq!(remote_stop_result("32010200000001", 1, true, stop_refusal::NONE), f.body);
}

/// §8.7 and §8.8. Every period's price is D0FB0100 (1.30000); nothing
/// was used. The note says "02（交易标识：app 启动）", but the table has
/// 0x01 for an app start and 0x02 for a card: the byte, 0x02, is built.
/// Our times carry the weekday the sample leaves zero.
#[test]
fn transaction_record_matches_the_spec() {
    let wire = format!(
        "68 A2 8001 00 3B 55031412782305012018061910262392 55031412782305 01 98B70E11100314 98B70E11100314 \
         {} 0000000000 0000000000 00000000 00000000 00000000 {} 02 98B70E11100314 00 00000000D14B0A54 388C",
        "D0FB0100 00000000 00000000 00000000 ".repeat(4),
        "00".repeat(17)
    );
    let f = sample(&wire, false);
    let period = PeriodUsage { price: dec!(1.3), ..PeriodUsage::default() };
    let record = Record {
        serial: "55031412782305012018061910262392".into(),
        pile: "55031412782305".into(),
        gun: 1,
        start: spec_time(),
        end: spec_time(),
        periods: [period; 4],
        meter_start: dec!(0),
        meter_end: dec!(0),
        kwh: dec!(0),
        loss_kwh: dec!(0),
        amount: dec!(0),
        vin: String::new(),
        origin: origin::CARD,
        trade_time: spec_time(),
        stop_reason: 0,
        physical_card: CARD,
    };
    let mut expected = f.body.clone();
    for day in [28, 35, 146] {
        assert_eq!(expected[day], 0x10);
        expected[day] = 0x30;
    }
    assert_eq!(transaction_record(&record), expected);
    // The units of a charge.
    let mut periods = [PeriodUsage::default(); 4];
    periods[rate::FLAT] =
        PeriodUsage { price: dec!(1.5), kwh: dec!(12.3456), loss_kwh: dec!(12.3456), amount: dec!(18.5184) };
    let body = transaction_record(&Record {
        periods,
        meter_start: dec!(1000),
        meter_end: dec!(1012.3456),
        ..record
    });
    assert_eq!(body.len(), 158);
    assert_eq!(body[70..86], hex("F0 49 02 00 40 E2 01 00 40 E2 01 00 60 D3 02 00"));
    assert_eq!(body[102..112], hex("80 96 98 00 00 C0 78 9A 00 00"));

    let f = sample("68 15 0002 00 40 55031412782305012018061910262392 00 48B1", false);
    assert_eq!(read_record_ack(&f.body), Some(("55031412782305012018061910262392".into(), false)));
}

/// §9.1 (its 0 % is below the table's 30 % minimum: read as it is) and
/// §9.2.
#[test]
fn work_params_match_the_spec() {
    let f = sample("68 0D 0008 00 52 32010200000001 01 00 6890", false);
    let w = read_work_params(&f.body).unwrap();
    assert_eq!(w, WorkParams { pile: "32010200000001".into(), enabled: false, max_power_percent: 0 });
    let f = sample("68 0C 0008 00 51 32010200000001 01 C1A9", false);
    assert_eq!(work_params_result("32010200000001", true), f.body);
}

/// Split, stuck together, and garbage, impossible lengths or bad
/// checksums skipped to the next start byte.
#[test]
fn the_cutter_copes_with_a_stream() {
    let a = frame(1, kind::HEARTBEAT, &heartbeat("32010200000001", 1, false)).unwrap();
    let b = frame(2, kind::REMOTE_STOP, &hex("32010200000001 01")).unwrap();
    let mut bad = b.clone();
    *bad.last_mut().unwrap() ^= 1;
    let mut stream = vec![0x00, 0x11, 0x22];
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&a);
    stream.extend_from_slice(&[0x68, 0x02]);
    stream.extend_from_slice(&b);
    let (frames, skipped) = cut(&stream);
    assert_eq!(frames.iter().map(|f| (f.seq, f.kind)).collect::<Vec<_>>(), [(1, 0x03), (2, 0x36)]);
    assert_eq!(skipped, 3 + bad.len() as u64 + 2);

    let mut cutter = Cutter::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in a.iter().chain(&b) {
        buf.extend_from_slice(&[*byte]);
        while let Some(f) = cutter.decode(&mut buf).unwrap() {
            got.push(f.kind);
        }
    }
    assert_eq!((got, cutter.skipped), (vec![0x03, 0x36], 0));
}

#[test]
fn bodies_too_long_for_a_frame_are_refused() {
    assert_eq!(frame(0, kind::REALTIME, &[0; MAX_BODY]).unwrap().len(), 2 + MAX_LEN + 2);
    assert_eq!(
        frame(0, kind::REALTIME, &[0; MAX_BODY + 1]),
        Err(TooLong { kind: kind::REALTIME, body_len: MAX_BODY + 1 })
    );
}
