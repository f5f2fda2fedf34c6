//! OCPP 1.6J: JSON over WebSocket (OCPP-J, "OCPP JSON Specification" §4).
//!
//! Every WebSocket text message is one RPC frame, a JSON array:
//! `[2, id, action, payload]` a call, `[3, id, payload]` its result and
//! `[4, id, errorCode, errorDescription, errorDetails]` an error. [`Frame`]
//! reads and writes these; [`messages`] holds the typed payloads of the
//! Core, Remote Trigger and Smart Charging profiles, and [`decode`] turns a
//! payload into one, naming the CALLERROR code the standard gives a payload
//! that does not fit its schema.
//!
//! The WebSocket itself (handshake, framing, ping/pong) is a maintained
//! crate's job in `actors`; [`PipeCodec`] only carries whole messages, each
//! with its length, between that WebSocket task and the link actor.

pub mod messages;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The WebSocket subprotocol a 1.6J charge point offers.
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// The most characters a message id may have (OCPP-J §4.1.3: 36).
pub const MAX_ID_LEN: usize = 36;

/// CALLERROR codes (OCPP-J §4.2.3). `OccurenceConstraintViolation` is
/// spelled as the 1.6 standard spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    FormationViolation,
    PropertyConstraintViolation,
    OccurenceConstraintViolation,
    TypeConstraintViolation,
    GenericError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::NotImplemented,
        ErrorCode::NotSupported,
        ErrorCode::InternalError,
        ErrorCode::ProtocolError,
        ErrorCode::SecurityError,
        ErrorCode::FormationViolation,
        ErrorCode::PropertyConstraintViolation,
        ErrorCode::OccurenceConstraintViolation,
        ErrorCode::TypeConstraintViolation,
        ErrorCode::GenericError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::SecurityError => "SecurityError",
            ErrorCode::FormationViolation => "FormationViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::OccurenceConstraintViolation => "OccurenceConstraintViolation",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
            ErrorCode::GenericError => "GenericError",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A metrics label.
    pub fn label(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "ocpp_not_implemented",
            ErrorCode::NotSupported => "ocpp_not_supported",
            ErrorCode::InternalError => "ocpp_internal_error",
            ErrorCode::ProtocolError => "ocpp_protocol_error",
            ErrorCode::SecurityError => "ocpp_security_error",
            ErrorCode::FormationViolation => "ocpp_formation_violation",
            ErrorCode::PropertyConstraintViolation => "ocpp_property_constraint",
            ErrorCode::OccurenceConstraintViolation => "ocpp_occurence_constraint",
            ErrorCode::TypeConstraintViolation => "ocpp_type_constraint",
            ErrorCode::GenericError => "ocpp_generic_error",
        }
    }
}

pub const CALL: u8 = 2;
pub const CALLRESULT: u8 = 3;
pub const CALLERROR: u8 = 4;

/// One OCPP-J RPC frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Call { id: String, action: String, payload: Value },
    Result { id: String, payload: Value },
    Error { id: String, code: ErrorCode, description: String, details: Value },
}

/// A message that is no RPC frame. `id` is set when one could be read, so
/// the sender can be answered with a CALLERROR of `code`.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    pub id: Option<String>,
    /// Whether it claimed to be a call (only calls are answered).
    pub call: bool,
    pub code: ErrorCode,
    pub description: String,
}

impl Malformed {
    fn new(id: Option<String>, call: bool, code: ErrorCode, description: impl Into<String>) -> Self {
        Malformed { id, call, code, description: description.into() }
    }
}

impl Frame {
    /// Reads one message's text.
    pub fn parse(text: &str) -> Result<Frame, Malformed> {
        let bad =
            |id: Option<String>, call, d: &str| Malformed::new(id, call, ErrorCode::FormationViolation, d);
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Malformed::new(None, false, ErrorCode::FormationViolation, format!("not JSON: {e}"))
        })?;
        let Value::Array(mut items) = value else {
            return Err(bad(None, false, "a message is a JSON array"));
        };
        let kind = items.first().and_then(Value::as_u64);
        let id = match items.get(1) {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ID_LEN => Some(id.clone()),
            _ => None,
        };
        let call = kind == Some(CALL as u64);
        let Some(id) = id else {
            return Err(bad(None, call, "the message id is a string of 1 to 36 characters"));
        };
        match (kind, items.len()) {
            (Some(2), 4) => {
                let payload = items.pop().expect("4 items");
                let Some(Value::String(action)) = items.pop() else {
                    return Err(bad(Some(id), true, "the action is a string"));
                };
                if !payload.is_object() {
                    return Err(bad(Some(id), true, "a payload is a JSON object"));
                }
                Ok(Frame::Call { id, action, payload })
            }
            (Some(3), 3) => Ok(Frame::Result { id, payload: items.pop().expect("3 items") }),
            (Some(4), 5) => {
                let details = items.pop().expect("5 items");
                let description = items.pop().expect("5 items");
                let code = items.pop().expect("5 items");
                let code = code.as_str().and_then(ErrorCode::parse).unwrap_or(ErrorCode::GenericError);
                let description = description.as_str().unwrap_or_default().to_owned();
                Ok(Frame::Error { id, code, description, details })
            }
            (Some(2..=4), _) => Err(bad(Some(id), call, "wrong number of elements for the message type")),
            _ => Err(Malformed::new(Some(id), false, ErrorCode::ProtocolError, "unknown message type")),
        }
    }

    /// The message's text.
    pub fn to_text(&self) -> String {
        let v = match self {
            Frame::Call { id, action, payload } => serde_json::json!([CALL, id, action, payload]),
            Frame::Result { id, payload } => serde_json::json!([CALLRESULT, id, payload]),
            Frame::Error { id, code, description, details } => {
                serde_json::json!([CALLERROR, id, code.as_str(), description, details])
            }
        };
        v.to_string()
    }

    pub fn call<T: Serialize>(id: impl Into<String>, action: &str, payload: &T) -> Frame {
        Frame::Call { id: id.into(), action: action.into(), payload: to_value(payload) }
    }

    pub fn result<T: Serialize>(id: impl Into<String>, payload: &T) -> Frame {
        Frame::Result { id: id.into(), payload: to_value(payload) }
    }

    pub fn error(id: impl Into<String>, code: ErrorCode, description: impl Into<String>) -> Frame {
        let details = Value::Object(Default::default());
        Frame::Error { id: id.into(), code, description: description.into(), details }
    }

    /// The message type number: 2, 3 or 4.
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Call { .. } => CALL,
            Frame::Result { .. } => CALLRESULT,
            Frame::Error { .. } => CALLERROR,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Frame::Call { id, .. } | Frame::Result { id, .. } | Frame::Error { id, .. } => id,
        }
    }
}

fn to_value<T: Serialize>(payload: &T) -> Value {
    // Payload types are plain structs of strings, numbers and dates.
    serde_json::to_value(payload).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// Why a payload does not fit its schema, with the CALLERROR code for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfit {
    pub code: ErrorCode,
    pub description: String,
}

/// Reads a payload as `T`, or says which CALLERROR it earns (OCPP-J
/// §4.2.3): a missing required field is an occurrence violation, a value of
/// the wrong JSON type a type violation, a value outside its enumeration,
/// range or length a property violation, and anything else (an unknown
/// field: the schemas allow none) a formation violation.
pub fn decode<T: DeserializeOwned>(payload: &Value) -> Result<T, Unfit> {
    T::deserialize(payload).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("missing field") {
            ErrorCode::OccurenceConstraintViolation
        } else if text.starts_with("invalid type") {
            ErrorCode::TypeConstraintViolation
        } else if text.starts_with("unknown variant")
            || text.starts_with("invalid value")
            || text.starts_with(messages::CONSTRAINT)
            || text.contains("input contains invalid characters")
            || text.contains("premature end of input")
            || text.contains("out of range")
        {
            ErrorCode::PropertyConstraintViolation
        } else {
            ErrorCode::FormationViolation
        };
        Unfit { code, description: text }
    })
}

/// Whole OCPP-J messages between the WebSocket task and the link, each
/// behind its length (the WebSocket already delimits them; this only keeps
/// them whole across an in-process byte pipe). A message that cannot be
/// read as a frame is a [`Malformed`] item, not an error: the link stays.
pub struct PipeCodec(LengthDelimitedCodec);

impl PipeCodec {
    /// `max` bytes at most per message.
    pub fn new(max: usize) -> Self {
        PipeCodec(LengthDelimitedCodec::builder().max_frame_length(max).new_codec())
    }
}

impl Decoder for PipeCodec {
    type Item = Result<Frame, Malformed>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, std::io::Error> {
        let Some(bytes) = self.0.decode(src)? else { return Ok(None) };
        Ok(Some(match std::str::from_utf8(&bytes) {
            Ok(text) => Frame::parse(text),
            Err(_) => Err(Malformed::new(None, false, ErrorCode::FormationViolation, "not UTF-8")),
        }))
    }
}

impl Encoder<Frame> for PipeCodec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        self.0.encode(Bytes::from(frame.to_text()), dst)
    }
}

#[cfg(test)]
mod tests;
