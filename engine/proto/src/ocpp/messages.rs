//! Typed OCPP 1.6 payloads, named and shaped as the 1.6 JSON schemas name
//! them: `*Req` what the sender of a call sends, `*Conf` the answer. Fields
//! the schemas bound (string lengths, enumerations) are checked when read;
//! no schema allows fields it does not list, so neither do these.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// The start of the message a bounded field gives when a value breaks its
/// bound (read by [`super::decode`]).
pub const CONSTRAINT: &str = "constraint:";

/// A string of at most `N` characters (the schemas' CiString20Type, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CiString<const N: usize>(pub String);

impl<const N: usize> CiString<N> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> From<&str> for CiString<N> {
    /// Cut to `N` characters.
    fn from(s: &str) -> Self {
        CiString(s.chars().take(N).collect())
    }
}

impl<'de, const N: usize> Deserialize<'de> for CiString<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().count() > N {
            return Err(D::Error::custom(format!("{CONSTRAINT} a string of at most {N} characters")));
        }
        Ok(CiString(s))
    }
}

pub type IdToken = CiString<20>;

/// Names a request payload's action and its answer's type.
pub trait Request: Serialize + for<'de> Deserialize<'de> {
    const ACTION: &'static str;
    type Conf: Serialize + for<'de> Deserialize<'de>;
}

macro_rules! request {
    ($req:ident, $conf:ty, $action:literal) => {
        impl Request for $req {
            const ACTION: &'static str = $action;
            type Conf = $conf;
        }
    };
}

/// An empty payload (`{}`), for confs with nothing to say.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

// ---- Charge point to central system ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotificationReq {
    pub charge_point_vendor: CiString<20>,
    pub charge_point_model: CiString<20>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_point_serial_number: Option<CiString<25>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_box_serial_number: Option<CiString<25>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<CiString<50>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<CiString<20>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<CiString<20>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_type: Option<CiString<25>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_serial_number: Option<CiString<25>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistrationStatus {
    Accepted,
    Pending,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotificationConf {
    pub status: RegistrationStatus,
    pub current_time: DateTime<Utc>,
    /// Seconds between heartbeats.
    pub interval: u32,
}
request!(BootNotificationReq, BootNotificationConf, "BootNotification");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatReq {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeartbeatConf {
    pub current_time: DateTime<Utc>,
}
request!(HeartbeatReq, HeartbeatConf, "Heartbeat");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargePointErrorCode {
    ConnectorLockFailure,
    EVCommunicationError,
    GroundFailure,
    HighTemperature,
    InternalError,
    LocalListConflict,
    NoError,
    OtherError,
    OverCurrentFailure,
    PowerMeterFailure,
    PowerSwitchFailure,
    ReaderFailure,
    ResetFailure,
    UnderVoltage,
    OverVoltage,
    WeakSignal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargePointStatus {
    Available,
    Preparing,
    Charging,
    SuspendedEVSE,
    SuspendedEV,
    Finishing,
    Reserved,
    Unavailable,
    Faulted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusNotificationReq {
    pub connector_id: u32,
    pub error_code: ChargePointErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<CiString<50>>,
    pub status: ChargePointStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<CiString<255>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_error_code: Option<CiString<50>>,
}
request!(StatusNotificationReq, Empty, "StatusNotification");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorizationStatus {
    Accepted,
    Blocked,
    Expired,
    Invalid,
    ConcurrentTx,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdTagInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<IdToken>,
    pub status: AuthorizationStatus,
}

impl IdTagInfo {
    pub fn status(status: AuthorizationStatus) -> Self {
        IdTagInfo { expiry_date: None, parent_id_tag: None, status }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeReq {
    pub id_tag: IdToken,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeConf {
    pub id_tag_info: IdTagInfo,
}
request!(AuthorizeReq, AuthorizeConf, "Authorize");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTransactionReq {
    pub connector_id: u32,
    pub id_tag: IdToken,
    /// Wh.
    pub meter_start: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i64>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTransactionConf {
    pub id_tag_info: IdTagInfo,
    pub transaction_id: i32,
}
request!(StartTransactionReq, StartTransactionConf, "StartTransaction");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    EmergencyStop,
    EVDisconnected,
    HardReset,
    Local,
    Other,
    PowerLoss,
    Reboot,
    Remote,
    SoftReset,
    UnlockCommand,
    DeAuthorized,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTransactionReq {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag: Option<IdToken>,
    /// Wh.
    pub meter_stop: i64,
    pub timestamp: DateTime<Utc>,
    pub transaction_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<StopReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_data: Option<Vec<MeterValue>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTransactionConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}
request!(StopTransactionReq, StopTransactionConf, "StopTransaction");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Measurand {
    #[serde(rename = "Current.Export")]
    CurrentExport,
    #[serde(rename = "Current.Import")]
    CurrentImport,
    #[serde(rename = "Current.Offered")]
    CurrentOffered,
    #[serde(rename = "Energy.Active.Export.Register")]
    EnergyActiveExportRegister,
    #[serde(rename = "Energy.Active.Import.Register")]
    EnergyActiveImportRegister,
    #[serde(rename = "Energy.Reactive.Export.Register")]
    EnergyReactiveExportRegister,
    #[serde(rename = "Energy.Reactive.Import.Register")]
    EnergyReactiveImportRegister,
    #[serde(rename = "Energy.Active.Export.Interval")]
    EnergyActiveExportInterval,
    #[serde(rename = "Energy.Active.Import.Interval")]
    EnergyActiveImportInterval,
    #[serde(rename = "Energy.Reactive.Export.Interval")]
    EnergyReactiveExportInterval,
    #[serde(rename = "Energy.Reactive.Import.Interval")]
    EnergyReactiveImportInterval,
    Frequency,
    #[serde(rename = "Power.Active.Export")]
    PowerActiveExport,
    #[serde(rename = "Power.Active.Import")]
    PowerActiveImport,
    #[serde(rename = "Power.Factor")]
    PowerFactor,
    #[serde(rename = "Power.Offered")]
    PowerOffered,
    #[serde(rename = "Power.Reactive.Export")]
    PowerReactiveExport,
    #[serde(rename = "Power.Reactive.Import")]
    PowerReactiveImport,
    RPM,
    SoC,
    Temperature,
    Voltage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnitOfMeasure {
    Wh,
    #[serde(rename = "kWh")]
    KWh,
    #[serde(rename = "varh")]
    Varh,
    #[serde(rename = "kvarh")]
    Kvarh,
    W,
    #[serde(rename = "kW")]
    KW,
    VA,
    #[serde(rename = "kVA")]
    KVA,
    #[serde(rename = "var")]
    Var,
    #[serde(rename = "kvar")]
    Kvar,
    A,
    V,
    K,
    /// Misspelt in the 1.6 schema; both spellings are accepted.
    Celcius,
    Celsius,
    Fahrenheit,
    Percent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadingContext {
    #[serde(rename = "Interruption.Begin")]
    InterruptionBegin,
    #[serde(rename = "Interruption.End")]
    InterruptionEnd,
    Other,
    #[serde(rename = "Sample.Clock")]
    SampleClock,
    #[serde(rename = "Sample.Periodic")]
    SamplePeriodic,
    #[serde(rename = "Transaction.Begin")]
    TransactionBegin,
    #[serde(rename = "Transaction.End")]
    TransactionEnd,
    Trigger,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueFormat {
    Raw,
    SignedData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    L1,
    L2,
    L3,
    N,
    #[serde(rename = "L1-N")]
    L1N,
    #[serde(rename = "L2-N")]
    L2N,
    #[serde(rename = "L3-N")]
    L3N,
    #[serde(rename = "L1-L2")]
    L1L2,
    #[serde(rename = "L2-L3")]
    L2L3,
    #[serde(rename = "L3-L1")]
    L3L1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    Cable,
    EV,
    Inlet,
    Outlet,
    Body,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampledValue {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ReadingContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
    /// Energy.Active.Import.Register when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurand: Option<Measurand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Wh when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitOfMeasure>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValue {
    pub timestamp: DateTime<Utc>,
    pub sampled_value: Vec<SampledValue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValuesReq {
    pub connector_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i32>,
    pub meter_value: Vec<MeterValue>,
}
request!(MeterValuesReq, Empty, "MeterValues");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataTransferStatus {
    Accepted,
    Rejected,
    UnknownMessageId,
    UnknownVendorId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransferReq {
    pub vendor_id: CiString<255>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<CiString<50>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransferConf {
    pub status: DataTransferStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}
request!(DataTransferReq, DataTransferConf, "DataTransfer");

/// Firmware and diagnostics progress: acknowledged, not acted on yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirmwareStatusNotificationReq {
    pub status: String,
}
request!(FirmwareStatusNotificationReq, Empty, "FirmwareStatusNotification");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiagnosticsStatusNotificationReq {
    pub status: String,
}
request!(DiagnosticsStatusNotificationReq, Empty, "DiagnosticsStatusNotification");

// ---- Central system to charge point ----

/// The usual answer to a command: taken or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcceptStatus {
    Accepted,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusConf<S> {
    pub status: S,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStartTransactionReq {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    pub id_tag: IdToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfile>,
}
request!(RemoteStartTransactionReq, StatusConf<AcceptStatus>, "RemoteStartTransaction");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStopTransactionReq {
    pub transaction_id: i32,
}
request!(RemoteStopTransactionReq, StatusConf<AcceptStatus>, "RemoteStopTransaction");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetType {
    Hard,
    Soft,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetReq {
    #[serde(rename = "type")]
    pub kind: ResetType,
}
request!(ResetReq, StatusConf<AcceptStatus>, "Reset");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AvailabilityType {
    Inoperative,
    Operative,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AvailabilityStatus {
    Accepted,
    Rejected,
    Scheduled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeAvailabilityReq {
    pub connector_id: u32,
    #[serde(rename = "type")]
    pub kind: AvailabilityType,
}
request!(ChangeAvailabilityReq, StatusConf<AvailabilityStatus>, "ChangeAvailability");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageTrigger {
    BootNotification,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    Heartbeat,
    MeterValues,
    StatusNotification,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerMessageStatus {
    Accepted,
    Rejected,
    NotImplemented,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerMessageReq {
    pub requested_message: MessageTrigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}
request!(TriggerMessageReq, StatusConf<TriggerMessageStatus>, "TriggerMessage");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargingProfilePurpose {
    ChargePointMaxProfile,
    TxDefaultProfile,
    TxProfile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargingProfileKind {
    Absolute,
    Recurring,
    Relative,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecurrencyKind {
    Daily,
    Weekly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargingRateUnit {
    W,
    A,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingSchedulePeriod {
    /// Seconds from the schedule's start.
    pub start_period: u32,
    /// W or A, as the schedule's unit says (one decimal place).
    pub limit: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_phases: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_schedule: Option<DateTime<Utc>>,
    pub charging_rate_unit: ChargingRateUnit,
    pub charging_schedule_period: Vec<ChargingSchedulePeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_charging_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargingProfile {
    pub charging_profile_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i32>,
    pub stack_level: u32,
    pub charging_profile_purpose: ChargingProfilePurpose,
    pub charging_profile_kind: ChargingProfileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrency_kind: Option<RecurrencyKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<DateTime<Utc>>,
    pub charging_schedule: ChargingSchedule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargingProfileStatus {
    Accepted,
    Rejected,
    NotSupported,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetChargingProfileReq {
    pub connector_id: u32,
    pub cs_charging_profiles: ChargingProfile,
}
request!(SetChargingProfileReq, StatusConf<ChargingProfileStatus>, "SetChargingProfile");

// ---- Configuration, firmware, local list and vendor commands ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeConfigurationReq {
    pub key: CiString<50>,
    pub value: CiString<500>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigurationStatus {
    Accepted,
    Rejected,
    RebootRequired,
    NotSupported,
}
request!(ChangeConfigurationReq, StatusConf<ConfigurationStatus>, "ChangeConfiguration");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetConfigurationReq {
    /// Leave out to get every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Vec<CiString<50>>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyValue {
    pub key: CiString<50>,
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<CiString<500>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetConfigurationConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_key: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_key: Option<Vec<CiString<50>>>,
}
request!(GetConfigurationReq, GetConfigurationConf, "GetConfiguration");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockConnectorReq {
    pub connector_id: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnlockStatus {
    Unlocked,
    UnlockFailed,
    NotSupported,
}
request!(UnlockConnectorReq, StatusConf<UnlockStatus>, "UnlockConnector");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFirmwareReq {
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    pub retrieve_date: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<u32>,
}
request!(UpdateFirmwareReq, Empty, "UpdateFirmware");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetDiagnosticsReq {
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_time: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetDiagnosticsConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<CiString<255>>,
}
request!(GetDiagnosticsReq, GetDiagnosticsConf, "GetDiagnostics");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearCacheReq {}
request!(ClearCacheReq, StatusConf<AcceptStatus>, "ClearCache");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateType {
    Differential,
    Full,
}

/// An idTag on the local list; without `id_tag_info`, taken off it (a
/// differential update).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationData {
    pub id_tag: IdToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendLocalListReq {
    pub list_version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_authorization_list: Option<Vec<AuthorizationData>>,
    pub update_type: UpdateType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateStatus {
    Accepted,
    Failed,
    NotSupported,
    VersionMismatch,
}
request!(SendLocalListReq, StatusConf<UpdateStatus>, "SendLocalList");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetLocalListVersionReq {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetLocalListVersionConf {
    pub list_version: i32,
}
request!(GetLocalListVersionReq, GetLocalListVersionConf, "GetLocalListVersion");
