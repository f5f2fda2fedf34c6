use proto::ocpp::ErrorCode;
use rust_decimal_macros::dec;
use serde_json::json;

use super::*;

fn adapter() -> Ocpp {
    let cfg = crate::config::OcppConfig::default();
    let mut a = Ocpp::charge_point(PileId::from("CP-T"), Clock::System, &cfg);
    let mut out = Out::default();
    a.outbound(PileCommand::LoginReply { accepted: true, reply: ReplyTo(0) }, &mut out);
    assert!(out.replies.is_empty(), "the login is the connection: nothing to answer");
    a
}

fn call(a: &mut Ocpp, action: &str, payload: serde_json::Value) -> (Inbound, Out<Frame>) {
    let mut out = Out::default();
    let frame = Frame::Call { id: "c1".into(), action: action.into(), payload };
    (a.inbound(Ok(frame), &mut out), out)
}

#[test]
fn an_undecided_login_is_pending_and_the_next_boot_is_answered_by_its_login_again() {
    let cfg = crate::config::OcppConfig::default();
    let mut a = Ocpp::charge_point(PileId::from("CP-T"), Clock::System, &cfg);
    let mut out = Out::default();
    assert!(a.login_later(ReplyTo(0), &mut out), "the link is kept");
    assert!(out.replies.is_empty(), "the connection's login: nothing to answer yet");
    let boot = json!({"chargePointVendor": "V", "chargePointModel": "M"});
    let conf = |out: &Out<Frame>| match &out.replies[..] {
        [Frame::Result { id, payload }] if id == "c1" => {
            (payload["status"].clone(), payload["interval"].clone())
        }
        other => panic!("{other:?}"),
    };
    for (later, status, interval) in [(true, "Pending", 60), (false, "Rejected", 300)] {
        let (_, out) = call(&mut a, "BootNotification", boot.clone());
        assert!(out.replies.is_empty(), "answered by the login it runs again");
        let [PileEvent::Login(info, reply)] = &out.events[..] else { panic!("{:?}", out.events) };
        assert_eq!(info.pile.as_str(), "CP-T");
        let mut out = Out::default();
        if later {
            assert!(a.login_later(*reply, &mut out));
        } else {
            a.outbound(PileCommand::LoginReply { accepted: false, reply: *reply }, &mut out);
        }
        assert_eq!(conf(&out), (json!(status), json!(interval)));
    }
    // Decided: a later boot logs nothing in again.
    let (_, out) = call(&mut a, "BootNotification", boot);
    assert!(out.events.is_empty());
    assert_eq!(conf(&out), (json!("Rejected"), json!(300)));
}

#[test]
fn the_connection_is_the_login_and_boot_is_accepted_with_the_interval() {
    let cfg = crate::config::OcppConfig::default();
    let mut a = Ocpp::charge_point(PileId::from("CP-T"), Clock::System, &cfg);
    let mut out = Out::default();
    a.opened(&mut out);
    assert!(matches!(&out.events[..], [PileEvent::Login(info, ReplyTo(0))] if info.pile.as_str() == "CP-T"));
    let mut a = adapter();
    let (_, out) =
        call(&mut a, "BootNotification", json!({"chargePointVendor": "V", "chargePointModel": "M"}));
    let [Frame::Result { payload, .. }, Frame::Call { id, action, payload: ask }] = &out.replies[..] else {
        panic!("{:?}", out.replies)
    };
    assert_eq!((payload["status"].as_str(), payload["interval"].as_u64()), (Some("Accepted"), Some(300)));
    // Then: in what units it takes charging limits.
    assert_eq!((action.as_str(), ask), ("GetConfiguration", &json!({"key": [RATE_UNIT_KEY]})));
    let unit = json!({"configurationKey": [{"key": RATE_UNIT_KEY, "readonly": true, "value": "Current"}]});
    a.inbound(Ok(Frame::Result { id: id.clone(), payload: unit }), &mut Out::default());
    let profile = charging_profile(PortNo(1), None, dec!(6900), a.amps);
    let schedule = &profile.cs_charging_profiles.charging_schedule;
    assert_eq!(
        (schedule.charging_rate_unit, schedule.charging_schedule_period[0].limit),
        (ChargingRateUnit::A, 10.0)
    );
    for (value, amps) in [("Current,Power", false), ("Power", false), ("current", true)] {
        let conf = json!({"configurationKey": [{"key": RATE_UNIT_KEY, "readonly": true, "value": value}]});
        assert_eq!(takes_only_current(&conf), amps, "{value}");
    }
    assert!(!takes_only_current(&json!({"unknownKey": [RATE_UNIT_KEY]})), "W unless it says otherwise");
}

#[test]
fn status_notifications_set_the_port_and_raise_faults_connector_zero_the_pile() {
    let mut a = adapter();
    let (_, out) = call(
        &mut a,
        "StatusNotification",
        json!({"connectorId": 2, "errorCode": "OverCurrentFailure", "status": "Faulted"}),
    );
    let [PileEvent::Port(r)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!((r.port, r.status), (PortNo(2), PortStatus::Fault));
    assert_eq!(r.faults, Some(vec![("over_current", Severity::Major)]));
    let (_, out) = call(
        &mut a,
        "StatusNotification",
        json!({"connectorId": 0, "errorCode": "GroundFailure", "status": "Faulted"}),
    );
    assert!(matches!(
        &out.events[..],
        [PileEvent::Alarm { port: None, kind: "ground_failure", severity: Severity::Critical, .. }]
    ));
    for (status, port) in [("Preparing", PortStatus::Plugged), ("SuspendedEV", PortStatus::Charging)] {
        let (_, out) = call(
            &mut a,
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": status}),
        );
        assert!(
            matches!(&out.events[..], [PileEvent::Port(r)] if r.status == port && r.faults == Some(vec![]))
        );
    }
}

#[test]
fn meter_values_in_kwh_and_per_phase_become_a_reading_of_the_charge() {
    let mut a = adapter();
    let mut out = Out::default();
    let session = SessionId("777001".into());
    let order = Order {
        balance: dec!(30),
        pricing: super::super::PricingKind::TimeOfUse,
        limit: domain::pricing::Limit { seconds: None, kwh: None },
        max_duration_s: 0,
        overload_w: dec!(0),
        full_power_w: dec!(0),
        full_hold_s: 0,
        card: None,
    };
    a.outbound(PileCommand::StartCharge { port: PortNo(1), session: session.clone(), order }, &mut out);
    let [Frame::Call { action, payload, .. }] = &out.replies[..] else { panic!("{:?}", out.replies) };
    assert_eq!((action.as_str(), payload["idTag"].as_str()), ("RemoteStartTransaction", Some("777001")));
    let (_, out) = call(
        &mut a,
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "777001", "meterStart": 12_500, "timestamp": "2026-01-01T00:00:00Z"}),
    );
    // Started, and the register it starts from is the session's to keep.
    let [PileEvent::StartResult { accepted: true, .. }, PileEvent::Port(start)] = &out.events[..] else {
        panic!("{:?}", out.events)
    };
    assert_eq!(start.reading.as_ref().and_then(|r| r.register_kwh), Some(dec!(12.5)));
    let [Frame::Result { payload, .. }] = &out.replies[..] else { panic!() };
    assert_eq!(payload["transactionId"], 777001);

    let (_, out) = call(
        &mut a,
        "MeterValues",
        json!({"connectorId": 1, "transactionId": 777001, "meterValue": [{"timestamp": "2026-01-01T00:10:00Z",
            "sampledValue": [
                {"value": "15.0", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                {"value": "2.3", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L1"},
                {"value": "2.2", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L2"},
                {"value": "230", "measurand": "Voltage", "phase": "L1-N"},
                {"value": "55", "measurand": "SoC", "unit": "Percent"},
                {"value": "104", "measurand": "Temperature", "unit": "Fahrenheit"}]}]}),
    );
    let [PileEvent::Port(r)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!((r.status, r.session.as_ref()), (PortStatus::Charging, Some(&session)));
    let reading = r.reading.as_ref().unwrap();
    assert_eq!((reading.kwh, reading.power, reading.voltage), (dec!(2.5), dec!(4500), dec!(230)));
    assert_eq!((reading.soc, reading.temperature_c), (Some(55), Some(40)));
    assert_eq!(reading.register_kwh, Some(dec!(15)));

    let (_, out) = call(
        &mut a,
        "StopTransaction",
        json!({"transactionId": 777001, "meterStop": 16_000, "timestamp": "2026-01-01T00:20:00Z", "reason": "Local"}),
    );
    let [PileEvent::Record(rec, reply)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!((rec.port, rec.kwh, rec.session.as_str()), (PortNo(1), dec!(3.5), "777001"));
    assert_eq!((rec.register_kwh, rec.started_offline), (Some(dec!(16)), None));
    let mut out = Out::default();
    let ack = PileCommand::AckRecord { port: PortNo(1), session, accepted: true, reply: *reply };
    a.outbound(ack, &mut out);
    let [Frame::Result { id, payload }] = &out.replies[..] else { panic!("{:?}", out.replies) };
    assert_eq!((id.as_str(), payload["idTagInfo"]["status"].as_str()), ("c1", Some("Accepted")));
}

#[test]
fn unfit_calls_are_answered_with_the_code_and_stray_answers_are_faults() {
    let mut a = adapter();
    let (inbound, out) = call(&mut a, "Authorize", json!({"idTag": "x".repeat(21)}));
    assert_eq!(inbound, Inbound::Fault(ErrorCode::PropertyConstraintViolation.label()));
    assert!(matches!(&out.replies[..], [Frame::Error { code: ErrorCode::PropertyConstraintViolation, .. }]));
    let mut out = Out::default();
    let stray = a.inbound(Ok(Frame::Result { id: "99".into(), payload: json!({}) }), &mut out);
    assert_eq!(stray, Inbound::Fault("ocpp_unexpected_answer"));
}

#[test]
fn session_ids_are_positive_32_bit_integers_that_never_repeat() {
    let ids: Vec<i64> = (0..1000).map(|_| session_id().as_str().parse().unwrap()).collect();
    assert!(ids.iter().all(|id| (1..=i64::from(i32::MAX)).contains(id)));
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_start_stamped_before_the_link_opened_was_made_offline_and_its_stop_says_so() {
    let mut a = adapter();
    let start = json!({"connectorId": 2, "idTag": "0a1b2c3d", "meterStart": 1_000,
                       "timestamp": "2026-01-01T08:00:00Z"});
    let (_, out) = call(&mut a, "StartTransaction", start.clone());
    assert!(out.events.is_empty(), "no card check: the charge ran already");
    let [Frame::Result { payload, .. }] = &out.replies[..] else { panic!("{:?}", out.replies) };
    assert_eq!(payload["idTagInfo"]["status"], "Accepted");
    let tx = payload["transactionId"].as_i64().unwrap();
    // Sent again (its answer was lost): the same transaction.
    let (_, out) = call(&mut a, "StartTransaction", start);
    let [Frame::Result { payload, .. }] = &out.replies[..] else { panic!("{:?}", out.replies) };
    assert_eq!(payload["transactionId"].as_i64(), Some(tx));

    let (_, out) = call(
        &mut a,
        "StopTransaction",
        json!({"transactionId": tx, "meterStop": 5_000, "timestamp": "2026-01-01T09:00:00Z"}),
    );
    let [PileEvent::Record(rec, _)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!((rec.port, rec.kwh, rec.card.as_deref()), (PortNo(2), dec!(4), Some("0A1B2C3D")));
    assert_eq!(rec.started_offline, Some("2026-01-01T08:00:00Z".parse().unwrap()));

    // A stop of a transaction this link never saw: billed from its own
    // begin sample if the platform has no session of it.
    let (_, out) = call(
        &mut a,
        "StopTransaction",
        json!({"transactionId": 4242, "meterStop": 3_000, "timestamp": "2026-01-01T09:00:00Z",
               "transactionData": [{"timestamp": "2026-01-01T07:30:00Z", "sampledValue": [
                   {"value": "500", "context": "Transaction.Begin"}]}]}),
    );
    let [PileEvent::Record(rec, _)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!((rec.kwh, rec.register_kwh), (dec!(2.5), Some(dec!(3))));
    assert_eq!(rec.started_offline, Some("2026-01-01T07:30:00Z".parse().unwrap()));
}
