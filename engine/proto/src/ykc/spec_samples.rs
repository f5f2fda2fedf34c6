//! The YKC v1.6 specification's own sample frames (样例报文), each decoded
//! to the values the spec writes next to its bytes; frames the platform
//! sends are also encoded back to the spec's bytes.
//!
//! Covered (#16): all 51 samples of spec v1.6, §6.1 to §12.4, one test each
//! (the BMS samples of §7.3–§7.10 through one helper). Most of the spec's
//! checksums are wrong and several samples contradict their own tables;
//! each test says where, and tests the body the table describes.

use bytes::{Bytes, BytesMut};
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio_util::codec::{Decoder, Encoder};

use vocab::{PileId, SessionId};

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The sample's bytes with a valid CRC, checking whether the spec's own
/// checksum was right (in either byte order, both of which piles send).
fn checked(wire: &str, spec_crc_valid: bool) -> Vec<u8> {
    let mut bytes = hex(wire);
    let n = bytes.len();
    let crc = crc16(&bytes[2..n - 2]).to_le_bytes();
    let given = [bytes[n - 2], bytes[n - 1]];
    let valid = given == crc || given == [crc[1], crc[0]];
    assert_eq!(valid, spec_crc_valid, "{wire}: the spec's checksum");
    bytes[n - 2..].copy_from_slice(&crc);
    bytes
}

fn decode(wire: &str, spec_crc_valid: bool) -> (Frame, Message) {
    let bytes = checked(wire, spec_crc_valid);
    let frame = FrameCodec.decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap().unwrap();
    let msg = Message::decode(&frame).unwrap();
    (frame, msg)
}

/// For frames the platform sends: encoding the decoded message gives the
/// spec's bytes (the checksum aside where the spec's is wrong).
fn platform_sends(wire: &str, spec_crc_valid: bool) -> Message {
    let (frame, msg) = decode(wire, spec_crc_valid);
    let mut out = BytesMut::new();
    FrameCodec.encode(msg.encode(frame.seq).unwrap(), &mut out).unwrap();
    assert_eq!(&out[..], &checked(wire, spec_crc_valid)[..], "{wire}");
    msg
}

fn pile(id: &str) -> PileId {
    PileId(id.into())
}

#[test]
fn s6_2_login_reply_0x02() {
    let msg = platform_sends("68 0C 0000 00 02 55031412782305 00 DA4C", true);
    assert_eq!(msg, LoginReply { pile: pile("55031412782305"), accepted: true }.into());
}

#[test]
fn s6_3_heartbeat_0x03() {
    // The spec's checksum 6890 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0D 0001 00 03 32010200000001 01 00 6890", false);
    assert_eq!(msg, Heartbeat { pile: pile("32010200000001"), gun: 1, fault: false }.into());
}

#[test]
fn s6_4_heartbeat_reply_0x04() {
    // The spec's checksum 65B2 is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 0D 3600 00 04 55031412782305 01 00 65B2", false);
    assert_eq!(msg, HeartbeatReply { pile: pile("55031412782305"), gun: 1 }.into());
}

#[test]
fn s6_7_billing_model_request_0x09() {
    // The spec's checksum DD25 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0B 0200 00 09 55031412782305 DD25", false);
    assert_eq!(msg, BillingModelRequest { pile: pile("55031412782305") }.into());
}

#[test]
fn s7_1_realtime_request_0x12() {
    // The spec's checksum 0069 is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 0C 0000 00 12 32010200000001 01 0069", false);
    assert_eq!(msg, RealTimeRequest { pile: pile("32010200000001"), gun: 1 }.into());
}

#[test]
fn s11_3_firmware_upgrade_0x94() {
    let wire = "68 62 0026 00 94 55031412782305 01 0F00 3131342E35352E3131342E3137340000 1500
        73720000000000000000000000000000 73723132330000000000000000000000
        41432D374B572F32303138303133310000000000000000000000000000000000 02 3C 7A2C";
    let msg = platform_sends(wire, true);
    let expected = FirmwareUpgrade {
        pile: pile("55031412782305"),
        pile_model: FirmwareUpgrade::MODEL_DC,
        power_kw: 15,
        server: "114.55.114.174".into(),
        port: 21,
        user: "sr".into(),
        password: "sr123".into(),
        path: "AC-7KW/20180131".into(),
        when: FirmwareUpgrade::WHEN_IDLE,
        timeout_minutes: 60,
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s6_1_login_0x01() {
    let wire = "68 22 0000 00 01 55031412782305 00 02 0F 56342E312E353000 01 01010101010101010101 04 675A";
    // The spec's checksum 675A is wrong in both byte orders: the body alone.
    let (_, msg) = decode(wire, false);
    let Message::Login(login) = msg else { panic!("{msg:?}") };
    assert_eq!((login.pile, login.kind, login.guns, login.protocol), (pile("55031412782305"), 0, 2, 0x0F));
    // The spec's note says "v4.1.50"; its bytes spell "V4.1.50".
    assert_eq!(login.firmware, "V4.1.50");
    assert_eq!((login.net, login.sim.as_str(), login.carrier), (1, "01010101010101010101", 4));
}

#[test]
fn s6_5_billing_model_check_0x05() {
    // The spec's checksum 9C00 is wrong in both byte orders: the body alone.
    // The model number "0001" is BCD.
    let (_, msg) = decode("68 0D 0002 00 05 32010200000001 0001 9C00", false);
    assert_eq!(msg, BillingModelCheck { pile: pile("32010200000001"), model: 1 }.into());
}

#[test]
fn s6_6_billing_model_check_reply_0x06() {
    let msg = platform_sends("68 0E CE04 00 06 55031412782305 0000 00 8E2F", true);
    let expected = BillingModelCheckReply { pile: pile("55031412782305"), model: 0, differs: false };
    assert_eq!(msg, expected.into());
}

#[test]
fn s6_8_billing_model_0x0a() {
    let wire = format!(
        "68 5E 0200 00 0A 55031412782305 0100 400D0300 9C400000 E0930400 9C400000 801A0600 9C400000
         20A10700 9C400000 00 {} 5E60",
        "00".repeat(48)
    );
    // The spec's checksum 5E60 is wrong in both byte orders: the body alone.
    let (_, msg) = decode(&wire, false);
    let Message::BillingModel(m) = msg.clone() else { panic!("{msg:?}") };
    // Model "0100" is BCD: 100. Prices carry 5 decimals, little-endian:
    // 40 0D 03 00 is 2.00000 yuan, 9C 40 00 00 is 0.16540 (the spec states no values).
    assert_eq!((m.pile, m.model, m.loss_ratio), (pile("55031412782305"), 100, 0));
    let energy: Vec<String> = m.prices.iter().map(|p| p.energy.normalize().to_string()).collect();
    assert_eq!(energy, ["2", "3", "4", "5"]);
    assert!(m.prices.iter().all(|p| p.service.normalize().to_string() == "0.1654"));
    // Every half hour is rate 0x00, the sharp (尖) period.
    assert!(m.slots.iter().all(|s| *s == m.slots[0]));
    assert_eq!(m.slots[0], period::SHARP);
    let mut out = BytesMut::new();
    FrameCodec.encode(msg.encode(0x0002).unwrap(), &mut out).unwrap();
    assert_eq!(&out[..], &checked(&wire, false)[..]);
}

// ---- §7 real-time data and the DC BMS frames ----

/// The card number every spec sample uses, zero-padded to 8 bytes.
const CARD: [u8; 8] = [0, 0, 0, 0, 0xD1, 0x4B, 0x0A, 0x54];

/// 2020-03-16 17:14:47, the time of the spec's samples (`98B70E11100314`;
/// the samples leave the weekday bits zero).
fn spec_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2020, 3, 16).unwrap().and_hms_opt(17, 14, 47).unwrap()
}

#[test]
fn s7_2_realtime_0x13() {
    let wire = "68 40 1A03 00 13 00000000000000000000000000000000 55031412782305 01 00 01 01 0200 0000 00
        0000000000000000 00 00 0000 0000 00000000 00000000 00000000 0000 9DAC";
    // The spec's checksum 9DAC is wrong in both byte orders: the body alone.
    let (_, msg) = decode(wire, false);
    // The notes next to two fields contradict their bytes: "0200 (输出电压：0)"
    // is 0.2 V in the table's 0.1 V unit, and "00 (枪线温度：10)" is -50 °C with
    // the table's -50 offset. The bytes, read as the table says, win.
    let expected = RealTime {
        serial: SessionId("0".repeat(32)),
        pile: pile("55031412782305"),
        gun: 1,
        status: GunStatus::Offline.into(),
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
    assert_eq!(msg, expected.into());
}

/// The serial of every §7.3–§7.10 sample, "3201020000000011151116155535026",
/// is 31 digits where the table (and each length byte) has 16 bytes; §8.4
/// writes the same serial with a trailing 0, as tested here.
const BMS_SERIAL: &str = "32010200000000111511161555350260";

/// A BMS sample: its head and `data_len` zero bytes of data (every sample's
/// fields are zero), with the spec's (wrong) checksum.
fn bms_sample(kind: u8, len: u8, seq: &str, data_len: usize, crc: &str) {
    let wire = format!(
        "68 {len:02X} {seq} 00 {kind:02X} {BMS_SERIAL} 32010200000001 01 {} {crc}",
        "00".repeat(data_len)
    );
    // Every BMS sample's checksum is wrong in both byte orders (the serial
    // is fixed anyway): the body alone.
    let (_, msg) = decode(&wire, false);
    let expected = BmsFrame {
        kind,
        serial: SessionId(BMS_SERIAL.into()),
        pile: pile("32010200000001"),
        gun: 1,
        data: Bytes::from(vec![0; data_len]),
    };
    assert_eq!(msg, expected.into(), "0x{kind:02X}");
    assert_eq!(usize::from(len), 4 + BmsFrame::HEAD + data_len, "0x{kind:02X}: the length byte");
}

#[test]
fn s7_3_bms_handshake_0x15() {
    // Version 3, battery type 1, capacity 2, voltage 2, maker 4, pack number
    // 4, date 3, cycles 3, ownership 1, reserved 1, VIN 17, software 8.
    bms_sample(kind::BMS_HANDSHAKE, 0x4D, "0015", 49, "FED2");
}

#[test]
fn s7_4_bms_parameters_0x17() {
    bms_sample(kind::BMS_PARAMETERS, 0x31, "0016", 21, "D18A");
}

#[test]
fn s7_5_bms_charge_end_0x19() {
    bms_sample(kind::BMS_CHARGE_END, 0x2B, "0016", 15, "AE36");
}

#[test]
fn s7_6_bms_error_0x1b() {
    bms_sample(kind::BMS_ERROR, 0x24, "0017", 8, "A2F3");
}

#[test]
fn s7_7_bms_stop_0x1d() {
    bms_sample(kind::BMS_STOP, 0x20, "0018", 4, "8445");
}

#[test]
fn s7_8_charger_stop_0x21() {
    bms_sample(kind::CHARGER_STOP, 0x20, "0018", 4, "8445");
    assert_eq!(BmsFrame::kind_name(0x21), Some("charger stop"));
}

#[test]
fn s7_9_bms_demand_0x23() {
    bms_sample(kind::BMS_DEMAND, 0x30, "0019", 20, "1D57");
}

#[test]
fn s7_10_bms_info_0x25() {
    bms_sample(kind::BMS_INFO, 0x23, "0021", 7, "72B9");
}

// ---- §8 starting, stopping and billing a charge; offline cards ----

#[test]
fn s8_1_card_start_0x31() {
    let wire = format!(
        "68 37 0004 00 31 32010200000001 01 01 00 00000000D14B0A54 {} {} F496",
        "00".repeat(16),
        "00".repeat(17)
    );
    // The spec's checksum F496 is wrong in both byte orders: the body alone.
    let (_, msg) = decode(&wire, false);
    let expected = CardStart {
        pile: pile("32010200000001"),
        gun: 1,
        mode: CardStart::MODE_CARD,
        password_required: false,
        card: CARD,
        password_md5: [0; 16],
        vin: String::new(),
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_2_card_start_verdict_0x32() {
    let wire = "68 2A 0004 00 32 32010200000001012018061219595785 32010200000001 01 0000000000000000 00000000
        00 01 E829";
    let msg = platform_sends(wire, true);
    let expected = CardStartVerdict {
        serial: SessionId("32010200000001012018061219595785".into()),
        pile: pile("32010200000001"),
        gun: 1,
        logical_card: [0; 8],
        balance: dec!(0),
        ok: false,
        reason: CardStartVerdict::NO_ACCOUNT,
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_3_remote_start_0x34() {
    let wire = "68 30 007C 00 34 55031412782305012018061914444680 55031412782305 01 0000001000000573
        00000000D14B0A54 A0860100 4622";
    // The spec's checksum 4622 is wrong in both byte orders: the body alone.
    let msg = platform_sends(wire, false);
    let expected = RemoteStart {
        serial: SessionId("55031412782305012018061914444680".into()),
        pile: pile("55031412782305"),
        gun: 1,
        // Logical card 1000000573, BCD.
        logical_card: [0, 0, 0, 0x10, 0, 0, 0x05, 0x73],
        physical_card: CARD,
        balance: dec!(1000.00),
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_4_remote_start_result_0x33() {
    let wire = "68 1E 0002 00 33 32010200000000111511161555350260 32010200000001 01 01 00 0FE2";
    // The spec's checksum 0FE2 is wrong in both byte orders: the body alone.
    let (_, msg) = decode(wire, false);
    let expected = RemoteStartResult {
        serial: SessionId(BMS_SERIAL.into()),
        pile: pile("32010200000001"),
        gun: 1,
        ok: true,
        reason: RemoteStartResult::NONE,
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_5_remote_stop_0x36() {
    // The spec's checksum C1A9 is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 0C 0003 00 36 32010200000001 01 C1A9", false);
    assert_eq!(msg, RemoteStop { pile: pile("32010200000001"), gun: 1 }.into());
}

#[test]
fn s8_6_remote_stop_result_0x35() {
    // The spec's checksum 907E is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0E 0003 00 35 32010200000001 01 01 00 907E", false);
    let expected =
        RemoteStopResult { pile: pile("32010200000001"), gun: 1, ok: true, reason: RemoteStopResult::NONE };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_7_transaction_record_0x3b() {
    let wire = format!(
        "68 A2 8001 00 3B 55031412782305012018061910262392 55031412782305 01 98B70E11100314 98B70E11100314
         {} 0000000000 0000000000 00000000 00000000 00000000 {} 02 98B70E11100314 00 00000000D14B0A54 388C",
        "D0FB0100 00000000 00000000 00000000 ".repeat(4),
        "00".repeat(17)
    );
    // The spec's checksum 388C is wrong in both byte orders: the body alone.
    let (frame, msg) = decode(&wire, false);
    assert_eq!(frame.body.len(), 158, "the table's 158 bytes, as the length byte says");
    // Every period's price is D0FB0100, 1.30000 yuan/kWh; nothing was used.
    let period = PeriodUsage { price: dec!(1.30000), kwh: dec!(0), loss_kwh: dec!(0), amount: dec!(0) };
    let expected = TransactionRecord {
        serial: SessionId("55031412782305012018061910262392".into()),
        pile: pile("55031412782305"),
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
        // The note says "02（交易标识：app 启动）", but the table has 0x01 for
        // an app start and 0x02 for a card start. The byte is 0x02.
        origin: TransactionRecord::ORIGIN_CARD,
        trade_time: spec_time(),
        stop_reason: 0,
        physical_card: CARD,
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_8_record_ack_0x40() {
    // The spec's checksum 48B1 is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 15 0002 00 40 55031412782305012018061910262392 00 48B1", false);
    let expected = RecordAck { serial: SessionId("55031412782305012018061910262392".into()), invalid: false };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_9_balance_update_0x42() {
    // The spec's checksum 72EA is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 18 0006 00 42 32010200000001 01 00000000D14B0A54 00000000 72EA", false);
    let expected =
        BalanceUpdate { pile: pile("32010200000001"), gun: 1, physical_card: CARD, balance: dec!(0) };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_10_balance_update_result_0x41() {
    // The spec's length byte 13 (a 15-byte body) is one short of its own
    // table and bytes, pile 7 | card 8 | result 1: tested with 14. Its
    // checksum 4AC4 is wrong either way.
    let (_, msg) = decode("68 14 0006 00 41 32010200000001 00000000D14B0A54 01 4AC4", false);
    let expected = BalanceUpdateResult {
        pile: pile("32010200000001"),
        physical_card: CARD,
        result: BalanceUpdateResult::PILE_MISMATCH,
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_11_offline_card_sync_0x44() {
    // The spec's length byte 2C (a 40-byte body) does not match its table
    // and bytes, pile 7 | count 1 | one card 16: tested with 1C. Its
    // checksum F264 is wrong either way.
    let wire = "68 1C 0007 00 44 32010200000001 01 0000000010000001 00000000D14B0A54 F264";
    let msg = platform_sends(wire, false);
    let card = OfflineCard { logical_card: [0, 0, 0, 0, 0x10, 0, 0, 0x01], physical_card: CARD };
    assert_eq!(msg, OfflineCardSync { pile: pile("32010200000001"), cards: vec![card] }.into());
}

#[test]
fn s8_12_offline_card_sync_result_0x43() {
    // The spec's checksum 6890 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0D 0007 00 43 32010200000001 01 00 6890", false);
    let expected =
        OfflineCardSyncResult { pile: pile("32010200000001"), ok: true, reason: OfflineCardSyncResult::NONE };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_13_offline_card_clear_0x46() {
    // The spec's length byte 2C does not match its table and bytes, pile 7 |
    // count 1 | one card 8: tested with 14. Its checksum F264 is wrong
    // either way.
    let msg = platform_sends("68 14 0007 00 46 32010200000001 01 00000000D14B0A54 F264", false);
    assert_eq!(msg, OfflineCardClear { pile: pile("32010200000001"), cards: vec![CARD] }.into());
}

#[test]
fn s8_14_offline_card_clear_result_0x45() {
    // The spec's sample gives each card one byte, "00（失败原因）", where the
    // table has two, clear flag (0x01 cleared) then failure reason, and no
    // count; its length byte 0D fits neither. Tested: the table's body, each
    // card cleared (01) with no failure (00), length 1F. Its checksum 6890
    // is wrong either way.
    let wire = "68 1F 0007 00 45 32010200000001 00000000D14B0A54 01 00 00000000E14C0A54 01 00 6890";
    let (_, msg) = decode(wire, false);
    let cleared = |physical_card| CardRemoval { physical_card, ok: true, reason: CardRemoval::NONE };
    // The note calls the second card "540A4CE1": its bytes E14C0A54 in
    // reverse. The bytes are what the pile sends.
    let expected = OfflineCardClearResult {
        pile: pile("32010200000001"),
        cards: vec![cleared(CARD), cleared([0, 0, 0, 0, 0xE1, 0x4C, 0x0A, 0x54])],
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s8_15_offline_card_query_0x48() {
    // The spec's length byte 2C does not match its table and bytes, pile 7 |
    // count 1 | one card 8: tested with 14. Its checksum F264 is wrong
    // either way.
    let msg = platform_sends("68 14 0007 00 48 32010200000001 01 00000000D14B0A54 F264", false);
    assert_eq!(msg, OfflineCardQuery { pile: pile("32010200000001"), cards: vec![CARD] }.into());
}

#[test]
fn s8_16_offline_card_query_result_0x47() {
    // The spec's length byte 0D (a 9-byte body) does not match its table
    // and bytes, pile 7 | 2 × (card 8 | result 1) with no count: tested
    // with 1D. Its checksum 6890 is wrong either way.
    let wire = "68 1D 0007 00 47 32010200000001 00000000D14B0A54 01 00000000E14C0A54 00 6890";
    let (_, msg) = decode(wire, false);
    let expected = OfflineCardQueryResult {
        pile: pile("32010200000001"),
        cards: vec![
            CardPresence { physical_card: CARD, present: true },
            // Noted as "540A4CE1", its bytes in reverse.
            CardPresence { physical_card: [0, 0, 0, 0, 0xE1, 0x4C, 0x0A, 0x54], present: false },
        ],
    };
    assert_eq!(msg, expected.into());
}

// ---- §9 platform settings ----

#[test]
fn s9_1_work_params_0x52() {
    // The spec's checksum 6890 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0D 0008 00 52 32010200000001 01 00 6890", false);
    // 0x01: stop and lock the pile. The sample's 0 % power is below the
    // table's own 30 % minimum, so the platform would refuse to send it:
    // decoded only.
    let expected = WorkParams { pile: pile("32010200000001"), enabled: false, max_power_percent: 0 };
    assert_eq!(msg, expected.clone().into());
    assert!(Message::from(expected).encode(8).is_err());
}

#[test]
fn s9_2_work_params_result_0x51() {
    // The spec's checksum C1A9 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0C 0008 00 51 32010200000001 01 C1A9", false);
    assert_eq!(msg, WorkParamsResult { pile: pile("32010200000001"), ok: true }.into());
}

#[test]
fn s9_3_time_sync_0x56() {
    // The spec's checksum 8A13 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 12 00DF 00 56 55031412782305 98B70E11100314 8A13", false);
    assert_eq!(msg, TimeSync { pile: pile("55031412782305"), time: spec_time() }.into());
    // The platform sends the same time with the weekday set (Monday, bit 5
    // of the day byte), which the sample leaves zero.
    let body = msg.encode(0x00DF).unwrap().body;
    assert_eq!(&body[7..], &hex("98B70E 11 30 0314")[..]);
}

#[test]
fn s9_4_time_sync_result_0x55() {
    // The spec's checksum 0E9B is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 12 A101 00 55 55031412782305 98B70E11100314 0E9B", false);
    assert_eq!(msg, TimeSyncResult { pile: pile("55031412782305"), time: spec_time() }.into());
}

#[test]
fn s9_5_billing_model_push_0x58() {
    let wire = format!(
        "68 5E 0025 00 58 55031412782305 0100 400D0300 9C400000 E0930400 9C400000 801A0600 9C400000
         20A10700 9C400000 00 {} 5E60",
        "00".repeat(48)
    );
    // The spec's checksum 5E60 is wrong in both byte orders: the body alone.
    let msg = platform_sends(&wire, false);
    let Message::BillingModelPush(m) = msg else { panic!("{msg:?}") };
    assert_eq!((m.pile, m.model, m.loss_ratio), (pile("55031412782305"), 100, 0));
    // The notes say 2, 2, 4 and 5 yuan/kWh of energy and 0.4 of service; the
    // bytes (5 decimals, little-endian) say 2, 3, 4, 5 and 0.16540. The
    // bytes win, as in §6.8's sample.
    let energy: Vec<Decimal> = m.prices.iter().map(|p| p.energy).collect();
    assert_eq!(energy, [dec!(2), dec!(3), dec!(4), dec!(5)]);
    assert!(m.prices.iter().all(|p| p.service == dec!(0.16540)));
    // 90 bytes as the table says: pile 7, model 2, 8 rates × 4, loss 1, 48
    // half hours, all rate 0x00 (尖).
    assert_eq!(m.slots.len(), 48);
    assert!(m.slots.iter().all(|s| *s == period::SHARP));
}

#[test]
fn s9_6_billing_model_push_result_0x57() {
    // The spec's checksum C1A9 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0C 0009 00 57 32010200000001 01 C1A9", false);
    assert_eq!(msg, BillingModelPushResult { pile: pile("32010200000001"), ok: true }.into());
}

// ---- §10 parking locks ----

#[test]
fn s10_1_parking_lock_status_0x61() {
    // The spec's sample leaves out the lock state byte its table puts after
    // the gun (15 bytes where its length byte and table say 16). Tested: the
    // table's body with the lock state 0x00 (not in position). Its checksum
    // 6890 is wrong either way.
    let (_, msg) = decode("68 14 0001 00 61 32010200000001 01 00 00 00 00 00000000 6890", false);
    let expected = ParkingLockStatus {
        pile: pile("32010200000001"),
        gun: 1,
        state: ParkingLockStatus::MOVING,
        occupied: false,
        battery_percent: 0,
        alarm: ParkingLockStatus::ALARM_NONE,
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s10_2_parking_lock_control_0x62() {
    // The spec's length byte 0D (a 9-byte body) does not match its table and
    // bytes, pile 7 | gun 1 | action 1 | reserved 4: tested with 11. Its
    // checksum 6890 is wrong either way.
    let msg = platform_sends("68 11 0001 00 62 32010200000001 01 55 00000000 6890", false);
    assert_eq!(msg, ParkingLockControl { pile: pile("32010200000001"), gun: 1, raise: true }.into());
}

#[test]
fn s10_3_parking_lock_result_0x63() {
    // As §10.2: the length byte 0D does not match the table and bytes,
    // pile 7 | gun 1 | result 1 | reserved 4; tested with 11.
    let (_, msg) = decode("68 11 0001 00 63 32010200000001 01 00 00000000 6890", false);
    assert_eq!(msg, ParkingLockResult { pile: pile("32010200000001"), gun: 1, ok: false }.into());
}

// ---- §11 maintenance ----

#[test]
fn s11_1_reboot_0x92() {
    // The spec's checksum C1A9 is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 0C 0011 00 92 32010200000001 01 C1A9", false);
    assert_eq!(msg, Reboot { pile: pile("32010200000001"), when: Reboot::NOW }.into());
}

#[test]
fn s11_2_reboot_result_0x91() {
    // The spec's checksum C1A9 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0C 0011 00 91 32010200000001 01 C1A9", false);
    assert_eq!(msg, RebootResult { pile: pile("32010200000001"), ok: true }.into());
}

#[test]
fn s11_4_firmware_upgrade_result_0x93() {
    // The spec's checksum C1A9 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0C 0012 00 93 32010200000001 01 C1A9", false);
    let expected = FirmwareUpgradeResult {
        pile: pile("32010200000001"),
        status: FirmwareUpgradeResult::PILE_ID_MISMATCH,
    };
    assert_eq!(msg, expected.into());
    assert_eq!(FirmwareUpgradeResult::status_text(1), "wrong pile id");
}

// ---- §12 parallel charging ----

#[test]
fn s12_1_parallel_start_request_0xa1() {
    let wire = format!(
        "68 3E 0004 00 A1 32010200000001 01 01 00 00000000D14B0A54 {} {} 00 201029112801 F496",
        "00".repeat(16),
        "00".repeat(17)
    );
    // The spec's checksum F496 is wrong in both byte orders: the body alone.
    let (_, msg) = decode(&wire, false);
    let expected = ParallelStartRequest {
        request: CardStart {
            pile: pile("32010200000001"),
            gun: 1,
            mode: CardStart::MODE_CARD,
            password_required: false,
            card: CARD,
            password_md5: [0; 16],
            vin: String::new(),
        },
        auxiliary: false,
        parallel_serial: "201029112801".into(),
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s12_2_parallel_start_verdict_0xa2() {
    // The spec's sample has frame type 32 (its §8.2 sample's) where §12.2 is
    // 0xA2: tested as A2. Its checksum E829 is §8.2's, wrong here.
    let wire = "68 30 0004 00 A2 32010200000001012018061219595785 32010200000001 01 0000000000000000 00000000
        00 01 201029112801 E829";
    let msg = platform_sends(wire, false);
    let expected = ParallelStartVerdict {
        verdict: CardStartVerdict {
            serial: SessionId("32010200000001012018061219595785".into()),
            pile: pile("32010200000001"),
            gun: 1,
            logical_card: [0; 8],
            balance: dec!(0),
            ok: false,
            reason: CardStartVerdict::NO_ACCOUNT,
        },
        parallel_serial: "201029112801".into(),
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s12_3_parallel_remote_start_0xa4() {
    let wire = "68 36 007C 00 A4 55031412782305012018061914444680 55031412782305 01 0000001000000573
        00000000D14B0A54 A0860100 201029112801 4622";
    // The spec's checksum 4622 is wrong in both byte orders: the body alone.
    let msg = platform_sends(wire, false);
    let expected = ParallelRemoteStart {
        start: RemoteStart {
            serial: SessionId("55031412782305012018061914444680".into()),
            pile: pile("55031412782305"),
            gun: 1,
            logical_card: [0, 0, 0, 0x10, 0, 0, 0x05, 0x73],
            physical_card: CARD,
            balance: dec!(1000.00),
        },
        parallel_serial: "201029112801".into(),
    };
    assert_eq!(msg, expected.into());
}

#[test]
fn s12_4_parallel_remote_start_result_0xa3() {
    let wire =
        "68 25 0002 00 A3 32010200000000111511161555350260 32010200000001 01 01 00 00 201029112801 0FE2";
    // The spec's checksum 0FE2 is wrong in both byte orders: the body alone.
    let (_, msg) = decode(wire, false);
    let expected = ParallelRemoteStartResult {
        result: RemoteStartResult {
            serial: SessionId(BMS_SERIAL.into()),
            pile: pile("32010200000001"),
            gun: 1,
            ok: true,
            reason: RemoteStartResult::NONE,
        },
        auxiliary: false,
        parallel_serial: "201029112801".into(),
    };
    assert_eq!(msg, expected.into());
}
