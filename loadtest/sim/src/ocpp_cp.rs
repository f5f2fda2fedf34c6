//! A simulated OCPP 1.6J charge point, written from the OCPP-J and OCPP 1.6
//! specifications with plain JSON values, not the platform's codec types,
//! so it checks that codec rather than agreeing with it.
//!
//! It opens `ws://HOST:PORT/ocpp/{id}` offering `ocpp1.6`, makes calls and
//! waits for their answers (answering the central system's pings as any
//! WebSocket does), and keeps the central system's own calls for the test
//! or load run to answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use tokio_tungstenite::tungstenite::Error as WsError;

/// A call of the central system's: its message id, action and payload.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingCall {
    pub id: String,
    pub action: String,
    pub payload: Value,
}

/// A CALLERROR: its code and description.
#[derive(Clone, Debug, PartialEq)]
pub struct CallError {
    pub code: String,
    pub description: String,
}

pub struct ChargePoint {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Calls from the central system not yet taken.
    calls: VecDeque<IncomingCall>,
    /// Answers to ids no call of ours waits on (for tests of stray input).
    pub stray: Vec<Value>,
    /// The subprotocol the central system chose.
    pub subprotocol: Option<String>,
    /// Actions answered `Accepted` as soon as they come, as a charge point
    /// does by itself (SetChargingProfile, by default).
    pub auto_accept: Vec<&'static str>,
    /// The calls answered that way, in order.
    pub accepted: Vec<IncomingCall>,
    /// Its ChargingScheduleAllowedChargingRateUnit ("Current", "Power" or
    /// both): a GetConfiguration asking only for it is answered by itself.
    pub rate_unit: &'static str,
    /// When set, every JSON message sent (`true`) and received (`false`),
    /// in order: for checking both sides against the OCPP schemas.
    pub transcript: Option<Vec<(bool, Value)>>,
}

/// How long a call waits for its answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

impl ChargePoint {
    /// Connects as charge point `id`, offering `ocpp1.6`.
    pub async fn connect(addr: SocketAddr, id: &str) -> Result<Self, WsError> {
        Self::connect_offering(addr, &format!("/ocpp/{id}"), Some("ocpp1.6")).await
    }

    /// Connects as charge point `id` with its password (HTTP Basic auth,
    /// OCPP security profile 1).
    pub async fn connect_with_password(addr: SocketAddr, id: &str, password: &str) -> Result<Self, WsError> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{password}"));
        Self::connect_as(addr, &format!("/ocpp/{id}"), Some("ocpp1.6"), Some(&format!("Basic {basic}"))).await
    }

    /// Connects to `path` offering `subprotocols` (a comma-separated list,
    /// or none).
    pub async fn connect_offering(
        addr: SocketAddr,
        path: &str,
        subprotocols: Option<&str>,
    ) -> Result<Self, WsError> {
        Self::connect_as(addr, path, subprotocols, None).await
    }

    async fn connect_as(
        addr: SocketAddr,
        path: &str,
        subprotocols: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Self, WsError> {
        let mut req = format!("ws://{addr}{path}").into_client_request()?;
        if let Some(a) = authorization {
            let value = HeaderValue::from_str(a).map_err(|e| WsError::HttpFormat(e.into()))?;
            req.headers_mut().insert("Authorization", value);
        }
        if let Some(p) = subprotocols {
            let value = HeaderValue::from_str(p).map_err(|e| WsError::HttpFormat(e.into()))?;
            req.headers_mut().insert("Sec-WebSocket-Protocol", value);
        }
        // A 4 KiB read buffer, not tungstenite's eager 128 KiB: thousands of
        // charge points share one load-test process.
        let config =
            tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
        let (ws, resp) = tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
        let subprotocol =
            resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(ChargePoint {
            ws,
            next_id: 0,
            calls: VecDeque::new(),
            stray: Vec::new(),
            subprotocol,
            auto_accept: vec!["SetChargingProfile"],
            accepted: Vec::new(),
            transcript: None,
            rate_unit: "Power",
        })
    }

    /// Sends a message's text as it is, well-formed or not.
    pub async fn send_raw(&mut self, text: &str) -> Result<(), WsError> {
        if let (Some(t), Ok(v)) = (&mut self.transcript, serde_json::from_str(text)) {
            t.push((true, v));
        }
        self.ws.send(Message::text(text.to_owned())).await
    }

    /// The next message, parsed; `None` when the socket closed or nothing
    /// came within `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??;
            match msg.ok()? {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).ok()?;
                    if let Some(log) = &mut self.transcript {
                        log.push((false, v.clone()));
                    }
                    return Some(v);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Whether the central system closed the socket within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(Message::Text(t)))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                        if let Some(log) = &mut self.transcript {
                            log.push((false, v.clone()));
                        }
                        self.keep(v).await;
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Keeps a message no call waited on; answers the calls it accepts by
    /// itself. Public so a load run can `recv` in a `select!` (cancel-safe)
    /// and keep what came outside it.
    pub async fn keep(&mut self, v: Value) {
        if v[0] != 2 {
            self.stray.push(v);
            return;
        }
        let call = IncomingCall {
            id: v[1].as_str().unwrap_or_default().to_owned(),
            action: v[2].as_str().unwrap_or_default().to_owned(),
            payload: v[3].clone(),
        };
        let unit_key = "ChargingScheduleAllowedChargingRateUnit";
        if call.action == "GetConfiguration" && call.payload["key"] == json!([unit_key]) {
            let answer =
                json!({"configurationKey": [{"key": unit_key, "readonly": true, "value": self.rate_unit}]});
            let _ = self.reply(&call, answer).await;
        } else if self.auto_accept.contains(&call.action.as_str()) {
            let _ = self.reply(&call, json!({"status": "Accepted"})).await;
            self.accepted.push(call);
        } else {
            self.calls.push_back(call);
        }
    }

    /// Calls `action` and waits for its answer: the CALLRESULT's payload
    /// or the CALLERROR. `Err(None)`: no answer (the socket closed).
    pub async fn call(&mut self, action: &str, payload: Value) -> Result<Value, Option<CallError>> {
        self.next_id += 1;
        let id = format!("cp-{}", self.next_id);
        let text = json!([2, id, action, payload]).to_string();
        self.send_raw(&text).await.map_err(|_| None)?;
        self.answer_to(&id).await
    }

    /// Waits for the answer to the call with message id `id`.
    pub async fn answer_to(&mut self, id: &str) -> Result<Value, Option<CallError>> {
        loop {
            let v = self.recv(ANSWER_WAIT).await.ok_or(None)?;
            match (v[0].as_u64(), v[1].as_str()) {
                (Some(3), Some(i)) if i == id => return Ok(v[2].clone()),
                (Some(4), Some(i)) if i == id => {
                    return Err(Some(CallError {
                        code: v[2].as_str().unwrap_or_default().to_owned(),
                        description: v[3].as_str().unwrap_or_default().to_owned(),
                    }))
                }
                _ => self.keep(v).await,
            }
        }
    }

    /// The central system's next call of `action` (others before it are
    /// kept), within `wait`.
    pub async fn next_call(&mut self, action: &str, wait: Duration) -> Option<IncomingCall> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(at) = self.calls.iter().position(|c| c.action == action) {
                return self.calls.remove(at);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.recv(left).await?;
            self.keep(v).await;
        }
    }

    /// The oldest kept call of the central system's, if any.
    pub fn take_call(&mut self) -> Option<IncomingCall> {
        self.calls.pop_front()
    }

    /// Reads for `wait`, keeping (or answering by itself) what comes.
    pub async fn listen(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Some(v) => self.keep(v).await,
                None => return,
            }
        }
    }

    /// Answers a call of the central system's with `payload`.
    pub async fn reply(&mut self, call: &IncomingCall, payload: Value) -> Result<(), WsError> {
        self.send_raw(&json!([3, call.id, payload]).to_string()).await
    }

    /// Waits for a call of `action`, answers it `{"status": status}` and
    /// returns its payload.
    pub async fn answer(&mut self, action: &str, status: &str, wait: Duration) -> Option<Value> {
        let call = self.next_call(action, wait).await?;
        self.reply(&call, json!({ "status": status })).await.ok()?;
        Some(call.payload)
    }

    pub async fn boot(&mut self) -> Result<Value, Option<CallError>> {
        let boot = json!({"chargePointVendor": "SimVendor", "chargePointModel": "SimAC22",
                          "firmwareVersion": "1.0.0"});
        self.call("BootNotification", boot).await
    }

    pub async fn status(
        &mut self,
        connector: u32,
        status: &str,
        error: &str,
    ) -> Result<Value, Option<CallError>> {
        let body = json!({"connectorId": connector, "status": status, "errorCode": error,
                          "timestamp": now()});
        self.call("StatusNotification", body).await
    }

    /// Starts a transaction; the answer carries its transactionId.
    pub async fn start_transaction(
        &mut self,
        connector: u32,
        id_tag: &str,
        meter_start_wh: i64,
    ) -> Result<Value, Option<CallError>> {
        let body = json!({"connectorId": connector, "idTag": id_tag, "meterStart": meter_start_wh,
                          "timestamp": now()});
        self.call("StartTransaction", body).await
    }

    /// Sends the energy register (Wh) and active power (W) of a connector.
    pub async fn meter_values(
        &mut self,
        connector: u32,
        transaction: Option<i64>,
        register_wh: i64,
        power_w: i64,
    ) -> Result<Value, Option<CallError>> {
        let mut body = json!({"connectorId": connector, "meterValue": [{"timestamp": now(), "sampledValue": [
            {"value": register_wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
             "context": "Sample.Periodic"},
            {"value": power_w.to_string(), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        ]}]});
        if let Some(tx) = transaction {
            body["transactionId"] = json!(tx);
        }
        self.call("MeterValues", body).await
    }

    pub async fn stop_transaction(
        &mut self,
        transaction: i64,
        meter_stop_wh: i64,
        reason: &str,
    ) -> Result<Value, Option<CallError>> {
        let body = json!({"transactionId": transaction, "meterStop": meter_stop_wh, "timestamp": now(),
                          "reason": reason});
        self.call("StopTransaction", body).await
    }
}

/// Now, as OCPP writes dates (RFC 3339, UTC).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
