use serde_json::json;

use super::messages::*;
use super::*;

#[test]
fn frames_read_and_write_as_the_three_arrays() {
    let call = Frame::parse(r#"[2,"19223201","BootNotification",{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]"#).unwrap();
    let Frame::Call { id, action, payload } = &call else { panic!("{call:?}") };
    assert_eq!((id.as_str(), action.as_str()), ("19223201", "BootNotification"));
    let boot: BootNotificationReq = decode(payload).unwrap();
    assert_eq!(boot.charge_point_model.as_str(), "SingleSocketCharger");
    assert_eq!(Frame::parse(&call.to_text()).unwrap(), call);

    let result =
        Frame::result("7", &HeartbeatConf { current_time: "2013-02-01T20:53:32.486Z".parse().unwrap() });
    assert_eq!(result.to_text(), r#"[3,"7",{"currentTime":"2013-02-01T20:53:32.486Z"}]"#);
    let error = Frame::error("8", ErrorCode::NotImplemented, "no such action");
    assert_eq!(error.to_text(), r#"[4,"8","NotImplemented","no such action",{}]"#);
    assert_eq!(Frame::parse(&error.to_text()).unwrap(), error);
}

#[test]
fn broken_frames_say_what_is_wrong_and_keep_the_id_when_there_is_one() {
    let m = Frame::parse("[2,\"1\",").unwrap_err();
    assert_eq!((m.id, m.code), (None, ErrorCode::FormationViolation));
    let m = Frame::parse(r#"{"a":1}"#).unwrap_err();
    assert_eq!(m.code, ErrorCode::FormationViolation);
    let m = Frame::parse(r#"[2,"5","Heartbeat"]"#).unwrap_err();
    assert_eq!((m.id.as_deref(), m.call, m.code), (Some("5"), true, ErrorCode::FormationViolation));
    let m = Frame::parse(r#"[2,"5","Heartbeat",[]]"#).unwrap_err();
    assert_eq!((m.id.as_deref(), m.code), (Some("5"), ErrorCode::FormationViolation));
    let m = Frame::parse(r#"[9,"5",{}]"#).unwrap_err();
    assert_eq!((m.id.as_deref(), m.code), (Some("5"), ErrorCode::ProtocolError));
    let long = "x".repeat(37);
    assert_eq!(Frame::parse(&format!(r#"[2,"{long}","Heartbeat",{{}}]"#)).unwrap_err().id, None);
}

#[test]
fn unfit_payloads_get_the_error_code_the_standard_names() {
    let code = |v: serde_json::Value| decode::<StatusNotificationReq>(&v).unwrap_err().code;
    let ok = json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"});
    assert!(decode::<StatusNotificationReq>(&ok).is_ok());
    assert_eq!(
        code(json!({"connectorId": 1, "status": "Available"})),
        ErrorCode::OccurenceConstraintViolation
    );
    assert_eq!(
        code(json!({"connectorId": "one", "errorCode": "NoError", "status": "Available"})),
        ErrorCode::TypeConstraintViolation
    );
    assert_eq!(
        code(json!({"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"})),
        ErrorCode::PropertyConstraintViolation
    );
    assert_eq!(
        code(json!({"connectorId": -1, "errorCode": "NoError", "status": "Available"})),
        ErrorCode::PropertyConstraintViolation
    );
    assert_eq!(
        code(
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "x".repeat(51)})
        ),
        ErrorCode::PropertyConstraintViolation
    );
    assert_eq!(
        code(json!({"connectorId": 1, "errorCode": "NoError", "status": "Available", "colour": "red"})),
        ErrorCode::FormationViolation
    );
    let bad_time = json!({"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "yesterday"});
    assert_eq!(
        decode::<StartTransactionReq>(&bad_time).unwrap_err().code,
        ErrorCode::PropertyConstraintViolation
    );
}

#[test]
fn meter_values_read_measurands_units_and_phases() {
    let v = json!({"connectorId": 1, "transactionId": 42, "meterValue": [{
    "timestamp": "2026-01-01T10:00:00Z",
    "sampledValue": [
        {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "230", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        {"value": "31", "measurand": "Temperature", "unit": "Celsius", "location": "Body"},
        {"value": "80", "measurand": "SoC", "unit": "Percent", "location": "EV"}
    ]}]});
    let m: MeterValuesReq = decode(&v).unwrap();
    let s = &m.meter_value[0].sampled_value;
    assert_eq!(s[1].measurand, Some(Measurand::PowerActiveImport));
    assert_eq!(s[1].unit, Some(UnitOfMeasure::KW));
    assert_eq!(s[2].phase, Some(Phase::L1N));
    assert_eq!(serde_json::to_value(&m).unwrap(), v);
}

#[test]
fn commands_serialize_as_the_schemas_name_their_fields() {
    let profile = SetChargingProfileReq {
        connector_id: 1,
        cs_charging_profiles: ChargingProfile {
            charging_profile_id: 3,
            transaction_id: Some(9),
            stack_level: 0,
            charging_profile_purpose: ChargingProfilePurpose::TxProfile,
            charging_profile_kind: ChargingProfileKind::Relative,
            recurrency_kind: None,
            valid_from: None,
            valid_to: None,
            charging_schedule: ChargingSchedule {
                duration: None,
                start_schedule: None,
                charging_rate_unit: ChargingRateUnit::W,
                charging_schedule_period: vec![ChargingSchedulePeriod {
                    start_period: 0,
                    limit: 7000.0,
                    number_phases: None,
                }],
                min_charging_rate: None,
            },
        },
    };
    assert_eq!(
        serde_json::to_value(&profile).unwrap(),
        json!({"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 3, "transactionId": 9,
            "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000.0}]}}})
    );
    assert_eq!(serde_json::to_value(ResetReq { kind: ResetType::Soft }).unwrap(), json!({"type": "Soft"}));
    assert_eq!(<ChangeAvailabilityReq as Request>::ACTION, "ChangeAvailability");
}

#[test]
fn the_pipe_carries_whole_messages_and_a_bad_one_is_an_item_not_an_error() {
    let mut codec = PipeCodec::new(1024);
    let mut buf = BytesMut::new();
    let frame = Frame::call("1", "Heartbeat", &HeartbeatReq {});
    codec.encode(frame.clone(), &mut buf).unwrap();
    let mut raw = LengthDelimitedCodec::new();
    raw.encode(Bytes::from_static(b"[2,\"2\""), &mut buf).unwrap();
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok(frame)));
    assert!(matches!(codec.decode(&mut buf).unwrap(), Some(Err(_))));
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    raw.encode(Bytes::from(vec![b' '; 2048]), &mut buf).unwrap();
    assert!(codec.decode(&mut buf).is_err(), "over the size limit");
}
