//! Typed OCPP 1.6 payloads, named and shaped as the 1.6 JSON schemas name
//! them: `*Req` what the sender of a call sends, `*Conf` the answer. Fields
//! the schemas bound (string lengths, enumerations) are checked when read;
//! no schema allows fields it does not list, so neither do these.
//!
//! The shared pieces (bounded strings, `Request`, `Empty`) are here; the
//! payloads are in one file per direction, `from_charge_point` and
//! `to_charge_point`, with the configuration, firmware, local list and
//! vendor commands in `configuration`. All are re-exported here, so every
//! payload is `messages::Name`.

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

mod configuration;
mod from_charge_point;
mod to_charge_point;

pub use configuration::*;
pub use from_charge_point::*;
pub use to_charge_point::*;
