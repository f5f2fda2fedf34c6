//! The YKC v1.6 specification's own sample frames (样例报文), each decoded
//! to the values the spec writes next to its bytes; frames the platform
//! sends are also encoded back to the spec's bytes.
//!
//! Unfinished (#16): only part of the spec's ~51 samples are covered yet.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::domain::PileId;

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
fn s4_2_login_reply_0x02() {
    let msg = platform_sends("68 0C 0000 00 02 55031412782305 00 DA4C", true);
    assert_eq!(msg, LoginReply { pile: pile("55031412782305"), accepted: true }.into());
}

#[test]
fn s4_3_heartbeat_0x03() {
    // The spec's checksum 6890 is wrong in both byte orders: the body alone.
    let (_, msg) = decode("68 0D 0001 00 03 32010200000001 01 00 6890", false);
    assert_eq!(msg, Heartbeat { pile: pile("32010200000001"), gun: 1, fault: false }.into());
}

#[test]
fn s4_4_heartbeat_reply_0x04() {
    // The spec's checksum 65B2 is wrong in both byte orders: the body alone.
    let msg = platform_sends("68 0D 3600 00 04 55031412782305 01 00 65B2", false);
    assert_eq!(msg, HeartbeatReply { pile: pile("55031412782305"), gun: 1 }.into());
}

#[test]
fn s5_3_billing_model_request_0x09() {
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
fn s4_1_login_0x01() {
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
fn s4_5_billing_model_check_0x05() {
    // The spec's checksum 9C00 is wrong in both byte orders: the body alone.
    // The model number "0001" is BCD.
    let (_, msg) = decode("68 0D 0002 00 05 32010200000001 0001 9C00", false);
    assert_eq!(msg, BillingModelCheck { pile: pile("32010200000001"), model: 1 }.into());
}

#[test]
fn s4_6_billing_model_check_reply_0x06() {
    let msg = platform_sends("68 0E CE04 00 06 55031412782305 0000 00 8E2F", true);
    let expected = BillingModelCheckReply { pile: pile("55031412782305"), model: 0, differs: false };
    assert_eq!(msg, expected.into());
}

#[test]
fn s5_4_billing_model_0x0a() {
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
    assert_eq!(m.slots[0].index(), 0);
    let mut out = BytesMut::new();
    FrameCodec.encode(msg.encode(0x0002).unwrap(), &mut out).unwrap();
    assert_eq!(&out[..], &checked(&wire, false)[..]);
}
