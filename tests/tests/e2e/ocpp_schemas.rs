//! Every message the platform sends a charge point, of every kind it can
//! send, and every message the simulated charge point sends, validated
//! against the official OCPP 1.6 JSON schemas (vendored in
//! `tests/fixtures/ocpp16-schemas`, see its README). One charge point goes
//! through all of it: boot, status, authorizations taken and refused, a
//! remote and a card start with meter values, a charging profile, stops,
//! refused starts, its own DataTransfer and status notifications, a
//! CALLERROR, and every command. Answers are checked against the schema of
//! the call they answer.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, Server, WAIT};
use crate::ocpp::{booted, remote_start, station_with_charge_point};

/// The schema of `action`'s request (`response`: its answer).
fn schema(action: &str, response: bool) -> jsonschema::Validator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ocpp16-schemas");
    let file = dir.join(format!("{action}{}.json", if response { "Response" } else { "" }));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// What the platform sent, by kind ("Action" for a call, "Action
/// response" for an answer), after checking every message both ways.
fn check(transcript: &[(bool, Value)]) -> BTreeSet<String> {
    // Calls by message id, each side's own: an answer is checked against
    // the schema of the call it answers.
    let mut calls: HashMap<(bool, String), String> = HashMap::new();
    let mut sent_by_platform = BTreeSet::new();
    let mut failures = Vec::new();
    for (by_cp, msg) in transcript {
        // The test's own deliberately unfit calls.
        if *by_cp && msg[1].as_str().is_some_and(|id| id.starts_with("bad-")) {
            continue;
        }
        let (kind, payload) = match msg[0].as_u64() {
            Some(2) => {
                let action = msg[2].as_str().expect("an action").to_owned();
                calls.insert((*by_cp, msg[1].as_str().unwrap().to_owned()), action.clone());
                ((action, false), &msg[3])
            }
            Some(3) => {
                let Some(action) = calls.get(&(!*by_cp, msg[1].as_str().unwrap().to_owned())) else {
                    assert!(*by_cp, "the platform answered a call never made: {msg}");
                    continue; // the tests' stray answers
                };
                ((action.clone(), true), &msg[2])
            }
            Some(4) => {
                // OCPP-J 4.2.3: [4, id, code from the list, description, details object].
                let codes = [
                    "NotImplemented",
                    "NotSupported",
                    "InternalError",
                    "ProtocolError",
                    "SecurityError",
                    "FormationViolation",
                    "PropertyConstraintViolation",
                    "OccurenceConstraintViolation",
                    "TypeConstraintViolation",
                    "GenericError",
                ];
                let fits = msg.as_array().is_some_and(|a| a.len() == 5)
                    && msg[1].is_string()
                    && codes.contains(&msg[2].as_str().unwrap_or(""))
                    && msg[3].is_string()
                    && msg[4].is_object();
                assert!(fits, "not a CALLERROR as OCPP-J frames one: {msg}");
                if !*by_cp {
                    sent_by_platform.insert("CALLERROR".to_owned());
                }
                continue;
            }
            _ => panic!("not an OCPP-J message: {msg}"),
        };
        let (action, response) = kind;
        let errors: Vec<String> =
            schema(&action, response).iter_errors(payload).map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            let who = if *by_cp { "charge point" } else { "platform" };
            failures.push(format!(
                "{who}'s {action}{}: {payload}: {errors:?}",
                if response { " answer" } else { "" }
            ));
        }
        if !*by_cp {
            sent_by_platform.insert(if response { format!("{action} response") } else { action });
        }
    }
    assert!(failures.is_empty(), "messages that do not fit their schema:\n{}", failures.join("\n"));
    sent_by_platform
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_either_side_sends_fits_the_ocpp_16_schemas() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.ocpp_heartbeat_interval_ms = 10_000;
        c.ocpp_call_timeout_ms = 2_000;
        c.power_interval_ms = 200;
    });
    let id = "CP-SCHEMA-1";
    let station = station_with_charge_point(&server, id, 2).await;
    let power = json!({"transformer": {"capacity_w": "5000", "margin_w": "0"}, "ykc_gun_rated_w": "7000",
                       "ebike_port_min_w": "120", "ebike_port_max_w": "600"});
    let (s, v) =
        server.call(Some(&server.admin), "PUT", &format!("/api/v1/stations/{station}/power"), power).await;
    assert_eq!(s, 200, "{v}");
    let (driver, _) = server.driver(&codes, "13900000073", "40.00").await;
    let tag = "0A1B2C3D4E5F6073";
    let card = json!({"number": tag, "kind": "physical"});
    assert_eq!(server.post(&format!("/api/v1/drivers/{driver}/cards"), card).await.0, 201);

    let mut cp = booted(&server, id).await;
    cp.transcript = Some(Vec::new());
    // Booted again with the transcript on, so the boot's answer is in it.
    assert_eq!(cp.boot().await.unwrap()["status"], "Accepted");
    cp.call("Heartbeat", json!({})).await.unwrap();
    cp.status(0, "Available", "NoError").await.unwrap();
    cp.status(1, "Preparing", "NoError").await.unwrap();
    assert_eq!(
        cp.call("Authorize", json!({"idTag": "FFFFFFFF"})).await.unwrap()["idTagInfo"]["status"],
        "Invalid"
    );
    assert_eq!(cp.call("Authorize", json!({"idTag": tag})).await.unwrap()["idTagInfo"]["status"], "Accepted");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "plugged").await;

    // A remote start, metered, held to the station's limit, stopped.
    let (_, tx) = remote_start(&server, &mut cp, id, 1, 0).await;
    cp.meter_values(1, Some(tx), 1_000, 4_000).await.unwrap();
    for _ in 0..50 {
        if !cp.accepted.is_empty() {
            break;
        }
        cp.listen(Duration::from_millis(100)).await;
    }
    assert!(!cp.accepted.is_empty(), "a SetChargingProfile");
    assert_eq!(server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await.0, 202);
    cp.answer("RemoteStopTransaction", "Accepted", WAIT).await.expect("RemoteStopTransaction");
    cp.stop_transaction(tx, 2_000, "Remote").await.unwrap();

    // A card start, a second start by the same card refused, the stop.
    let conf = cp.start_transaction(2, tag, 0).await.unwrap();
    let card_tx = conf["transactionId"].as_i64().unwrap();
    let refused = cp.start_transaction(1, tag, 0).await.unwrap();
    assert_eq!(
        (refused["transactionId"].as_i64(), &refused["idTagInfo"]["status"]),
        (Some(0), &json!("ConcurrentTx"))
    );
    cp.stop_transaction(card_tx, 500, "Local").await.unwrap();

    // Its own DataTransfer and notifications, and a payload that does not fit.
    cp.call("DataTransfer", json!({"vendorId": "com.example", "data": "x"})).await.unwrap();
    cp.call("FirmwareStatusNotification", json!({"status": "Downloading"})).await.unwrap();
    cp.call("DiagnosticsStatusNotification", json!({"status": "Uploading"})).await.unwrap();
    cp.send_raw(r#"[2,"bad-1","StatusNotification",{"connectorId":1,"status":"Available"}]"#).await.unwrap();
    assert!(cp.answer_to("bad-1").await.is_err());

    // Every command, answered as a charge point would.
    let url = format!("/api/v1/piles/{id}/commands");
    let commands = [
        (json!({"kind": "reboot", "when_idle": true}), "Reset", json!({"status": "Accepted"})),
        (
            json!({"kind": "work_params", "enabled": true, "max_power_percent": 100}),
            "ChangeAvailability",
            json!({"status": "Scheduled"}),
        ),
        (json!({"kind": "refresh", "port": 1}), "TriggerMessage", json!({"status": "Accepted"})),
        (
            json!({"kind": "change_configuration", "key": "HeartbeatInterval", "value": "60"}),
            "ChangeConfiguration",
            json!({"status": "Accepted"}),
        ),
        (
            json!({"kind": "get_configuration", "keys": ["HeartbeatInterval", "Nope"]}),
            "GetConfiguration",
            json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "60"}],
                   "unknownKey": ["Nope"]}),
        ),
        (json!({"kind": "get_configuration"}), "GetConfiguration", json!({"configurationKey": []})),
        (json!({"kind": "unlock_connector", "port": 1}), "UnlockConnector", json!({"status": "Unlocked"})),
        (
            json!({"kind": "firmware", "url": "https://fw.example.com/v2.bin", "when_idle": true}),
            "UpdateFirmware",
            json!({}),
        ),
        (
            json!({"kind": "get_diagnostics", "url": "ftp://logs.example.com/"}),
            "GetDiagnostics",
            json!({"fileName": "d.zip"}),
        ),
        (json!({"kind": "clear_cache"}), "ClearCache", json!({"status": "Accepted"})),
        (
            json!({"kind": "offline_cards_sync", "cards": [tag]}),
            "SendLocalList",
            json!({"status": "Accepted"}),
        ),
        (
            json!({"kind": "offline_cards_clear", "cards": [tag]}),
            "SendLocalList",
            json!({"status": "Accepted"}),
        ),
        (json!({"kind": "get_local_list_version"}), "GetLocalListVersion", json!({"listVersion": 2})),
        (
            json!({"kind": "data_transfer", "vendor_id": "com.example", "message_id": "m", "data": "d"}),
            "DataTransfer",
            json!({"status": "Accepted", "data": "ok"}),
        ),
    ];
    for (body, action, answer) in commands {
        let (s, v) = server.post(&url, body.clone()).await;
        assert_eq!(s, 202, "{body}: {v}");
        let call = cp.next_call(action, WAIT).await.unwrap_or_else(|| panic!("{action}"));
        cp.reply(&call, answer).await.unwrap();
        server.until(&format!("{url}/{}", v["id"]), |v| v["outcome"] == "acknowledged").await;
    }

    let sent = check(cp.transcript.as_ref().unwrap());
    let every = [
        "BootNotification response",
        "Heartbeat response",
        "StatusNotification response",
        "Authorize response",
        "StartTransaction response",
        "MeterValues response",
        "StopTransaction response",
        "DataTransfer response",
        "FirmwareStatusNotification response",
        "DiagnosticsStatusNotification response",
        "CALLERROR",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "SetChargingProfile",
        "Reset",
        "ChangeAvailability",
        "TriggerMessage",
        "ChangeConfiguration",
        "GetConfiguration",
        "UnlockConnector",
        "UpdateFirmware",
        "GetDiagnostics",
        "ClearCache",
        "SendLocalList",
        "GetLocalListVersion",
        "DataTransfer",
    ];
    let missing: Vec<_> = every.iter().filter(|k| !sent.contains(**k)).collect();
    assert!(missing.is_empty(), "never sent, so never checked: {missing:?}");
}
