//! Running a pile remotely: work parameters (0x52 → 0x51), time sync
//! (0x56 → 0x55), the result of a billing model push (0x58 → 0x57), reboot
//! (0x92 → 0x91) and firmware upgrade (0x94 → 0x93).
//!
//! The layouts chargeplane speaks:
//!
//! ```text
//! 0x52 ↓ work parameters   pile 7 | enable 1 (0 allow, 1 disable) | max output power % 1 (30–100)
//! 0x51 ↑ result            pile 7 | ok 1
//! 0x56 ↓ time sync         pile 7 | CP56Time2a 7
//! 0x55 ↑ result            pile 7 | CP56Time2a 7 (the pile's clock after setting)
//! 0x57 ↑ push result       pile 7 | ok 1
//! 0x92 ↓ reboot            pile 7 | when 1 (1 now, 2 when idle)
//! 0x91 ↑ result            pile 7 | ok 1
//! 0x94 ↓ firmware upgrade  pile 7 | pile model 1 | power u16 (kW) | FTP server ASCII 16 |
//!                          port u16 | user ASCII 16 | password ASCII 16 | file path ASCII 32 |
//!                          when 1 (1 now, 2 when idle) | download timeout u8 (minutes) — 94 bytes
//! 0x93 ↑ result            pile 7 | status 1 (0 success, see `FirmwareUpgradeResult`)
//! ```
//!
//! The FTP server is text (spec §11.3: an IP address or a host name, NUL-padded
//! to 16 bytes), so a name works as well as an address.
//! Max output power is the lever for transformer limits; sending a share
//! outside 30–100 % is an encode error.

use chrono::NaiveDateTime;

use vocab::PileId;

use super::fields::{DecodeError, EncodeError, Reader, Writer, Ykc};
use crate::body::{Body, Misfit};

/// 0x52: enable or disable a pile, and cap its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkParams {
    pub pile: PileId,
    /// `false` locks the pile out of service (0x01 on the wire; any value
    /// other than 0x00 reads as disabled).
    pub enabled: bool,
    /// Percent of rated output, `MIN_POWER_PERCENT..=MAX_POWER_PERCENT`.
    pub max_power_percent: u8,
}

impl WorkParams {
    pub const MIN_POWER_PERCENT: u8 = 30;
    pub const MAX_POWER_PERCENT: u8 = 100;
}

impl Body<Ykc> for WorkParams {
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(WorkParams { pile: r.pile()?, enabled: !r.flag()?, max_power_percent: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        if !(Self::MIN_POWER_PERCENT..=Self::MAX_POWER_PERCENT).contains(&self.max_power_percent) {
            return Err(EncodeError::from(Misfit::out_of_range(
                "max output power %",
                self.max_power_percent,
            )));
        }
        w.pile(&self.pile)?;
        w.flag(!self.enabled);
        w.u8(self.max_power_percent);
        Ok(())
    }
}

/// A pile id and a success flag (0x01 on the wire): the body of 0x51, 0x57
/// and 0x91.
macro_rules! ok_result {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            pub pile: PileId,
            /// 0x01 on the wire when the pile did it.
            pub ok: bool,
        }

        impl Body<Ykc> for $name {
            const LEN: usize = 8;

            fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name { pile: r.pile()?, ok: r.flag()? })
            }

            fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
                w.pile(&self.pile)?;
                w.flag(self.ok);
                Ok(())
            }
        }
    };
}

ok_result!(
    /// 0x51: the pile's answer to `WorkParams`.
    WorkParamsResult
);
ok_result!(
    /// 0x57: the pile's answer to a pushed billing model (0x58).
    BillingModelPushResult
);
ok_result!(
    /// 0x91: the pile's answer to `Reboot`.
    RebootResult
);

/// 0x56: sets the pile's clock (its local time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeSync {
    pub pile: PileId,
    pub time: NaiveDateTime,
}

impl Body<Ykc> for TimeSync {
    const LEN: usize = 14;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeSync { pile: r.pile()?, time: r.time("time")? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.time(self.time, "time")
    }
}

/// 0x55: the pile's answer to `TimeSync`, with its clock as now set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeSyncResult {
    pub pile: PileId,
    pub time: NaiveDateTime,
}

impl Body<Ykc> for TimeSyncResult {
    const LEN: usize = 14;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeSyncResult { pile: r.pile()?, time: r.time("time")? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.time(self.time, "time")
    }
}

/// 0x92: restart the pile's controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reboot {
    pub pile: PileId,
    /// `Reboot::NOW` or `Reboot::WHEN_IDLE`; kept raw.
    pub when: u8,
}

impl Reboot {
    pub const NOW: u8 = 1;
    pub const WHEN_IDLE: u8 = 2;
}

impl Body<Ykc> for Reboot {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Reboot { pile: r.pile()?, when: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.u8(self.when);
        Ok(())
    }
}

/// 0x94: fetch new firmware from an FTP server and install it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareUpgrade {
    pub pile: PileId,
    /// `FirmwareUpgrade::MODEL_DC` or `MODEL_AC`; kept raw.
    pub pile_model: u8,
    /// Rated power, kW.
    pub power_kw: u16,
    /// FTP host: an IP address or a domain name, up to 16 ASCII characters.
    pub server: String,
    pub port: u16,
    /// Up to 16 ASCII characters.
    pub user: String,
    /// Up to 16 ASCII characters.
    pub password: String,
    /// Up to 32 ASCII characters.
    pub path: String,
    /// `FirmwareUpgrade::NOW` or `WHEN_IDLE`; kept raw.
    pub when: u8,
    /// How long the pile may take to download, minutes.
    pub timeout_minutes: u8,
}

impl FirmwareUpgrade {
    pub const MODEL_DC: u8 = 1;
    pub const MODEL_AC: u8 = 2;
    pub const NOW: u8 = 1;
    pub const WHEN_IDLE: u8 = 2;
}

impl Body<Ykc> for FirmwareUpgrade {
    const LEN: usize = 94;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FirmwareUpgrade {
            pile: r.pile()?,
            pile_model: r.u8()?,
            power_kw: r.u16()?,
            server: r.text::<16>()?,
            port: r.u16()?,
            user: r.text::<16>()?,
            password: r.text::<16>()?,
            path: r.text::<32>()?,
            when: r.u8()?,
            timeout_minutes: r.u8()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.u8(self.pile_model);
        w.u16(self.power_kw);
        w.text::<16>(&self.server, "ftp server")?;
        w.u16(self.port);
        w.text::<16>(&self.user, "ftp user")?;
        w.text::<16>(&self.password, "ftp password")?;
        w.text::<32>(&self.path, "firmware path")?;
        w.u8(self.when);
        w.u8(self.timeout_minutes);
        Ok(())
    }
}

/// 0x93: how a `FirmwareUpgrade` went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareUpgradeResult {
    pub pile: PileId,
    /// One of the `FirmwareUpgradeResult` constants; kept raw.
    pub status: u8,
}

impl FirmwareUpgradeResult {
    // The statuses of spec v1.6 §11.4.
    pub const SUCCESS: u8 = 0;
    pub const PILE_ID_MISMATCH: u8 = 1;
    pub const MODEL_MISMATCH: u8 = 2;
    pub const DOWNLOAD_TIMEOUT: u8 = 3;

    pub fn is_ok(&self) -> bool {
        self.status == Self::SUCCESS
    }

    /// What a status code means.
    pub fn status_text(code: u8) -> &'static str {
        match code {
            Self::SUCCESS => "success",
            Self::PILE_ID_MISMATCH => "wrong pile id",
            Self::MODEL_MISMATCH => "firmware does not match the pile model",
            Self::DOWNLOAD_TIMEOUT => "downloading the firmware timed out",
            _ => "unknown",
        }
    }
}

impl Body<Ykc> for FirmwareUpgradeResult {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FirmwareUpgradeResult { pile: r.pile()?, status: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.u8(self.status);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ykc::testing::{at, pile, round_trip};
    use crate::ykc::{kind, Frame, Message};

    fn work(enabled: bool, max_power_percent: u8) -> Message {
        Message::WorkParams(WorkParams { pile: pile(), enabled, max_power_percent })
    }

    #[test]
    fn work_params_round_trip_and_layout() {
        assert_eq!(&round_trip(work(true, 80))[7..], &[0, 80]);
        assert_eq!(&round_trip(work(false, 100))[7..], &[1, 100]);
        round_trip(work(true, 30));
    }

    #[test]
    fn work_params_power_outside_30_to_100_percent_does_not_encode() {
        for bad in [0, 29, 101, 255] {
            assert_eq!(
                work(true, bad).encode(0),
                Err(EncodeError::from(Misfit::out_of_range("max output power %", bad)))
            );
        }
        // Tolerant on input: a pile reporting 20 % still decodes.
        let body = Bytes::from([&round_trip(work(true, 50))[..7], &[0, 20]].concat());
        let frame = Frame { seq: 0, enc: 0, kind: kind::WORK_PARAMS, body };
        assert!(matches!(
            Message::decode(&frame),
            Ok(Message::WorkParams(WorkParams { max_power_percent: 20, .. }))
        ));
    }

    #[test]
    fn ok_results_round_trip() {
        for ok in [true, false] {
            let body = round_trip(Message::WorkParamsResult(WorkParamsResult { pile: pile(), ok }));
            assert_eq!(body.len(), 8);
            assert_eq!(body[7], u8::from(ok));
            round_trip(Message::BillingModelPushResult(BillingModelPushResult { pile: pile(), ok }));
            round_trip(Message::RebootResult(RebootResult { pile: pile(), ok }));
        }
        let short = Frame { seq: 0, enc: 0, kind: kind::REBOOT_RESULT, body: Bytes::from_static(&[0x55; 7]) };
        assert!(matches!(Message::decode(&short), Err(DecodeError::Short { need: 8, got: 7, .. })));
    }

    #[test]
    fn time_sync_round_trip() {
        let body = round_trip(Message::TimeSync(TimeSync { pile: pile(), time: at(8, 30, 15) }));
        assert_eq!(body.len(), 14);
        assert_eq!(&body[7..], &[0x98, 0x3A, 30, 8, (7 << 5) | 1, 3, 26]); // 15000 ms, Sunday
        round_trip(Message::TimeSyncResult(TimeSyncResult { pile: pile(), time: at(8, 30, 16) }));
        let mut bad = body.to_vec();
        bad[12] = 13;
        let frame = Frame { seq: 0, enc: 0, kind: kind::TIME_SYNC_RESULT, body: bad.into() };
        assert!(matches!(Message::decode(&frame), Err(DecodeError::BadTime { field: "time", .. })));
    }

    #[test]
    fn reboot_round_trip() {
        let body = round_trip(Message::Reboot(Reboot { pile: pile(), when: Reboot::WHEN_IDLE }));
        assert_eq!(&body[7..], &[2]);
        round_trip(Message::Reboot(Reboot { pile: pile(), when: Reboot::NOW }));
    }

    fn upgrade() -> FirmwareUpgrade {
        FirmwareUpgrade {
            pile: pile(),
            pile_model: FirmwareUpgrade::MODEL_DC,
            power_kw: 120,
            server: "47.96.12.201".into(),
            port: 21,
            user: "chargeplane".into(),
            password: "s3cret-ftp".into(),
            path: "/fw/dc120/V2.1.8.bin".into(),
            when: FirmwareUpgrade::WHEN_IDLE,
            timeout_minutes: 15,
        }
    }

    #[test]
    fn firmware_upgrade_round_trip_and_layout() {
        let body = round_trip(Message::FirmwareUpgrade(upgrade()));
        assert_eq!(body.len(), 94);
        assert_eq!(&body[7..10], &[1, 120, 0]);
        assert_eq!(&body[10..26], b"47.96.12.201\0\0\0\0");
        assert_eq!(&body[26..28], &[21, 0]);
        assert_eq!(&body[28..44], b"chargeplane\0\0\0\0\0");
        assert_eq!(&body[60..80], b"/fw/dc120/V2.1.8.bin");
        assert_eq!(&body[92..], &[2, 15]);
        let long_host = FirmwareUpgrade { server: "firmware.example.com".into(), ..upgrade() };
        assert!(matches!(
            Message::FirmwareUpgrade(long_host).encode(0),
            Err(EncodeError::BadText { field: "ftp server", .. })
        ));
        let long_path = FirmwareUpgrade { path: format!("/{}", "a".repeat(32)), ..upgrade() };
        assert!(matches!(
            Message::FirmwareUpgrade(long_path).encode(0),
            Err(EncodeError::BadText { field: "firmware path", .. })
        ));
        let short = Frame { seq: 0, enc: 0, kind: kind::FIRMWARE_UPGRADE, body: body.slice(..93) };
        assert!(matches!(Message::decode(&short), Err(DecodeError::Short { need: 94, got: 93, .. })));
    }

    #[test]
    fn firmware_upgrade_result_round_trip() {
        let done = FirmwareUpgradeResult { pile: pile(), status: FirmwareUpgradeResult::SUCCESS };
        assert!(done.is_ok());
        round_trip(Message::FirmwareUpgradeResult(done));
        let failed = FirmwareUpgradeResult { pile: pile(), status: FirmwareUpgradeResult::DOWNLOAD_TIMEOUT };
        assert!(!failed.is_ok());
        assert_eq!(round_trip(Message::FirmwareUpgradeResult(failed))[7], 3);
        assert_eq!(FirmwareUpgradeResult::status_text(1), "wrong pile id");
        assert_eq!(FirmwareUpgradeResult::status_text(9), "unknown");
    }
}
