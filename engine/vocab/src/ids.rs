//! Ids shared by every protocol and the platform: who a pile is, which port,
//! which charge, which station. Protocol codecs translate their wire ids into
//! these.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A pile's identity as its protocol names it: 14 BCD digits for YKC, the
/// device id for e-bike piles. Kept as text so every protocol fits one key.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PileId(pub String);

impl PileId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PileId {
    fn from(s: &str) -> Self {
        PileId(s.to_owned())
    }
}

/// A port (YKC "gun", e-bike "socket"), numbered from 1 on its pile.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PortNo(pub u8);

impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub type StationId = i64;
pub type TariffId = i64;
/// A tenant: a company running its own stations, prices and merchants on
/// the platform.
pub type OperatorId = i64;

/// The operator every platform starts with; it owns whatever was created
/// before there were others, so a single-operator deployment never names one.
pub const DEFAULT_OPERATOR: OperatorId = 1;

/// For serde: records stored before tenants existed are the default operator's.
pub fn default_operator() -> OperatorId {
    DEFAULT_OPERATOR
}

/// A charging session's id: the transaction serial the platform mints when it
/// starts a charge (YKC: 32 digits). Every later frame of the charge carries
/// it, so it is also the idempotency key of the pile's bill.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl SessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The wire protocol a pile speaks.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// YKC v1.5/v1.6, car piles.
    Ykc,
    /// "DNY"-style multi-port e-bike piles.
    Dny,
    /// OCPP 1.6J charge points, over WebSocket.
    Ocpp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ykc => "ykc",
            Protocol::Dny => "dny",
            Protocol::Ocpp => "ocpp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ykc" => Some(Protocol::Ykc),
            "dny" => Some(Protocol::Dny),
            "ocpp" => Some(Protocol::Ocpp),
            _ => None,
        }
    }
}

/// What a port is doing, as the platform shows it.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortStatus {
    /// The pile is not connected.
    Offline,
    Idle,
    /// A vehicle is plugged in but not charging.
    Plugged,
    Charging,
    /// Charged to full and still plugged in.
    Full,
    Fault,
}

impl PortStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PortStatus::Offline => "offline",
            PortStatus::Idle => "idle",
            PortStatus::Plugged => "plugged",
            PortStatus::Charging => "charging",
            PortStatus::Full => "full",
            PortStatus::Fault => "fault",
        }
    }
}

pub type DriverId = i64;
pub type MerchantId = i64;
