//! The simulated car pile against a platform side built with the
//! platform's own codec (`proto::ykc`): two readings of the YKC v1.6 spec
//! written apart, checking each other.

use futures::StreamExt;
use proto::ykc::{
    kind, period, BillingModel, BillingModelRequest, CardStart, CardStartVerdict, FrameCodec, LoginReply,
    Message, PeriodRate, PeriodUsage, RealTime, RealTimeRequest, RecordAck, RemoteStart, RemoteStartResult,
    RemoteStop, RemoteStopResult, TransactionRecord,
};
use rust_decimal_macros::dec;
use tokio::net::{TcpListener, TcpStream};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(guns: u8) -> PileConfig {
    PileConfig {
        heartbeat: ms(40),
        realtime: ms(60_000),
        record_retry: ms(200),
        ..PileConfig::new(PileId::from("32010600019236"), guns)
    }
}

fn serial(n: u32) -> SessionId {
    SessionId(format!("3201060001923601260301083000{n:04}"))
}

/// The platform's side: a bare socket speaking frames.
struct Platform {
    framed: Framed<TcpStream, FrameCodec>,
    seq: u16,
}

impl Platform {
    /// Starts a pile against a fresh listener and reads its login.
    async fn start(cfg: PileConfig) -> (Platform, SimPile) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pile = SimPile::connect(listener.local_addr().unwrap(), cfg.clone()).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let mut platform = Platform { framed: Framed::new(socket, FrameCodec), seq: 0x100 };
        let (seq, login) = platform.recv().await;
        assert_eq!(seq, 0);
        let Message::Login(login) = login else { panic!("expected login, got {login:?}") };
        assert_eq!((login.pile, login.guns, login.kind), (cfg.id, cfg.guns, cfg.kind));
        (platform, pile)
    }

    /// Logs the pile in and waits until it knows.
    async fn accept_login(&mut self, pile: &mut SimPile) {
        let reply = LoginReply { pile: pile.id().clone(), accepted: true };
        self.reply(reply.into(), 0).await;
        assert_eq!(pile.wait_for(|e| *e == Event::LoginAccepted, WAIT).await, Some(Event::LoginAccepted));
    }

    async fn send(&mut self, msg: Message) -> u16 {
        self.seq += 1;
        self.reply(msg, self.seq).await;
        self.seq
    }

    async fn reply(&mut self, msg: Message, seq: u16) {
        self.framed.send(msg.encode(seq).unwrap()).await.unwrap();
    }

    /// The next frame other than a heartbeat.
    async fn recv(&mut self) -> (u16, Message) {
        loop {
            let item = tokio::time::timeout(WAIT, self.framed.next()).await.expect("no frame in time");
            let frame = item.expect("pile hung up").unwrap().unwrap();
            let msg = Message::decode(&frame).unwrap();
            if msg.kind() != kind::HEARTBEAT {
                return (frame.seq, msg);
            }
        }
    }

    /// Every frame but heartbeats arriving within `d`.
    async fn collect(&mut self, d: Duration) -> Vec<Message> {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(d, async {
            while let Some(Ok(Ok(frame))) = self.framed.next().await {
                let msg = Message::decode(&frame).unwrap();
                if msg.kind() != kind::HEARTBEAT {
                    out.push(msg);
                }
            }
        })
        .await;
        out
    }

    async fn start_charge(&mut self, pile: &SimPile, gun: u8, serial: SessionId) -> (u16, RemoteStartResult) {
        let start = RemoteStart {
            serial,
            pile: pile.id().clone(),
            gun,
            logical_card: [0, 0, 0, 0, 0, 0, 0x12, 0x34],
            physical_card: [0xAB; 8],
            balance: dec!(200),
        };
        let seq = self.send(start.into()).await;
        let (reply_seq, msg) = self.recv().await;
        let Message::RemoteStartResult(result) = msg else { panic!("expected 0x33, got {msg:?}") };
        assert_eq!(reply_seq, seq);
        (seq, result)
    }

    async fn recv_realtime(&mut self) -> RealTime {
        match self.recv().await {
            (_, Message::RealTime(rt)) => rt,
            other => panic!("expected 0x13, got {other:?}"),
        }
    }

    async fn recv_record(&mut self) -> TransactionRecord {
        match self.recv().await {
            (_, Message::TransactionRecord(r)) => r,
            other => panic!("expected 0x3B, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn full_charge_from_start_to_acknowledged_record() {
    let (mut platform, mut pile) = Platform::start(config(2)).await;
    platform.accept_login(&mut pile).await;
    let model = BillingModel {
        pile: pile.id().clone(),
        model: 7,
        prices: [PeriodRate { energy: dec!(1.0), service: dec!(0.5) }; 4],
        loss_ratio: 0,
        slots: [period::FLAT; proto::ykc::SLOTS],
    };
    platform.send(Message::BillingModelPush(model.clone())).await;
    let ev = pile.wait_for(|e| matches!(e, Event::BillingModel(_)), WAIT).await;
    let Some(Event::BillingModel(got)) = ev else { panic!("no billing model: {ev:?}") };
    assert_eq!(
        (got.pile.as_str(), got.model, got.loss_ratio),
        (pile.id().as_str(), model.model, model.loss_ratio)
    );
    for (ours, theirs) in got.rates.iter().zip(&model.prices) {
        assert_eq!((ours.energy, ours.service), (theirs.energy, theirs.service));
    }
    let slots: Vec<usize> = model.slots.iter().map(|&s| usize::from(s)).collect();
    assert_eq!(got.half_hours.iter().map(|&h| usize::from(h)).collect::<Vec<_>>(), slots);

    // Remote start: 0x33 echoing the seq, then charging real-time data.
    let (_, result) = platform.start_charge(&pile, 1, serial(1)).await;
    assert!(result.ok);
    assert_eq!((result.serial.clone(), result.gun, result.reason), (serial(1), 1, 0));
    let rt = platform.recv_realtime().await;
    assert_eq!(
        (rt.serial.clone(), rt.gun, rt.gun_status(), rt.plugged),
        (serial(1), 1, proto::ykc::GunStatus::Charging, true)
    );
    assert_eq!(rt.kwh, Decimal::ZERO);
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await,
        Some(Event::StartRequested { gun: 1, serial: serial(1), accepted: true })
    );

    // The meter moves; a real-time frame on demand shows it.
    pile.set_energy(1, dec!(12.3456));
    pile.send_realtime(1);
    let rt = platform.recv_realtime().await;
    assert_eq!(rt.kwh, dec!(12.3456));
    assert_eq!(rt.amount, dec!(18.5184));

    // The platform asks for real-time data: the reply echoes its seq.
    let seq = platform.send(RealTimeRequest { pile: pile.id().clone(), gun: 1 }.into()).await;
    let (reply_seq, msg) = platform.recv().await;
    assert_eq!(reply_seq, seq);
    assert!(matches!(msg, Message::RealTime(rt) if rt.kwh == dec!(12.3456)));

    // Remote stop: 0x35, idle real-time data, then the record.
    let seq = platform.send(RemoteStop { pile: pile.id().clone(), gun: 1 }.into()).await;
    let (reply_seq, msg) = platform.recv().await;
    assert_eq!(reply_seq, seq);
    assert_eq!(
        msg,
        Message::RemoteStopResult(RemoteStopResult { pile: pile.id().clone(), gun: 1, ok: true, reason: 0 })
    );
    let rt = platform.recv_realtime().await;
    assert_eq!(
        (rt.gun_status(), rt.serial.clone(), rt.kwh),
        (proto::ykc::GunStatus::Idle, serial(1), dec!(12.3456))
    );
    let record = platform.recv_record().await;
    assert_eq!((record.serial.clone(), record.gun), (serial(1), 1));
    assert_eq!(record.kwh, dec!(12.3456));
    assert_eq!(record.meter_start, dec!(1000));
    assert_eq!(record.meter_end, dec!(1012.3456));
    assert_eq!(record.stop_reason, 0x40);
    assert_eq!(record.origin, TransactionRecord::ORIGIN_APP);
    assert_eq!(record.physical_card, [0xAB; 8]);
    let flat = record.periods[usize::from(period::FLAT)];
    assert_eq!((flat.price, flat.kwh, flat.amount), (dec!(1.5), dec!(12.3456), dec!(18.5184)));
    assert_eq!(record.amount, dec!(18.5184));
    assert_eq!(record.periods[usize::from(period::PEAK)], PeriodUsage::default());
    assert!(record.start <= record.end);

    // Acknowledged: no resend, however long we wait.
    platform.send(RecordAck { serial: serial(1), invalid: false }.into()).await;
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await,
        Some(Event::RecordAcked { serial: serial(1), invalid: false })
    );
    let later = platform.collect(ms(700)).await;
    assert!(later.iter().all(|m| m.kind() != kind::TRANSACTION_RECORD), "resent after ack: {later:?}");

    // The next charge starts from where the meter stopped.
    let (_, result) = platform.start_charge(&pile, 1, serial(2)).await;
    assert!(result.ok);
    platform.recv_realtime().await;
    pile.stop_at_pile(1, 0x45);
    platform.recv_realtime().await;
    let record = platform.recv_record().await;
    assert_eq!((record.meter_start, record.kwh, record.stop_reason), (dec!(1012.3456), Decimal::ZERO, 0x45));
}

#[tokio::test]
async fn unacknowledged_record_is_resent_three_times() {
    let cfg = PileConfig { record_retry: ms(50), ..config(1) };
    let (mut platform, mut pile) = Platform::start(cfg).await;
    platform.accept_login(&mut pile).await;
    platform.start_charge(&pile, 1, serial(3)).await;
    platform.recv_realtime().await;
    pile.stop_at_pile(1, 0x41);
    platform.recv_realtime().await;
    let first = platform.recv_record().await;
    assert_eq!(first.stop_reason, 0x41);
    let resent = platform.collect(ms(600)).await;
    assert_eq!(resent, vec![Message::TransactionRecord(first); 3]);
}

#[tokio::test]
async fn starts_and_stops_are_refused_with_the_right_reason() {
    let (mut platform, mut pile) = Platform::start(config(2)).await;
    platform.accept_login(&mut pile).await;

    pile.plug(2, false);
    let rt = platform.recv_realtime().await; // a change of state is reported at once
    assert_eq!((rt.gun, rt.plugged, rt.holstered), (2, false, 1));
    let (_, r) = platform.start_charge(&pile, 2, serial(4)).await;
    assert_eq!((r.ok, r.reason), (false, RemoteStartResult::NOT_PLUGGED));
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await,
        Some(Event::StartRequested { gun: 2, serial: serial(4), accepted: false })
    );

    let (_, r) = platform.start_charge(&pile, 3, serial(5)).await;
    assert_eq!((r.ok, r.reason), (false, RemoteStartResult::ID_MISMATCH));

    let (_, r) = platform.start_charge(&pile, 1, serial(6)).await;
    assert!(r.ok);
    platform.recv_realtime().await;
    let (_, r) = platform.start_charge(&pile, 1, serial(7)).await;
    assert_eq!((r.ok, r.reason), (false, RemoteStartResult::ALREADY_CHARGING));

    platform.send(RemoteStop { pile: pile.id().clone(), gun: 2 }.into()).await;
    let (_, msg) = platform.recv().await;
    assert!(
        matches!(msg, Message::RemoteStopResult(r) if !r.ok && r.reason == RemoteStopResult::NOT_CHARGING)
    );
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::StopRequested { .. }), WAIT).await,
        Some(Event::StopRequested { gun: 2 })
    );
}

#[tokio::test]
async fn swiped_card_starts_only_on_an_ok_verdict_and_bills_as_a_card() {
    let (mut platform, mut pile) = Platform::start(config(2)).await;
    platform.accept_login(&mut pile).await;
    let id = pile.id().clone();
    let card = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1];
    let verdict = |gun, serial, ok, reason| CardStartVerdict {
        serial,
        pile: id.clone(),
        gun,
        logical_card: [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78],
        balance: dec!(88.5),
        ok,
        reason,
    };

    pile.swipe_card(2, card);
    let swipe = CardStart {
        pile: id.clone(),
        gun: 2,
        mode: CardStart::MODE_CARD,
        password_required: false,
        card,
        password_md5: [0; 16],
        vin: String::new(),
    };
    assert_eq!(platform.recv().await.1, Message::CardStart(swipe.clone()));
    platform.send(verdict(2, serial(10), false, CardStartVerdict::BALANCE_TOO_LOW).into()).await;
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::CardVerdict { .. }), WAIT).await,
        Some(Event::CardVerdict { gun: 2, serial: serial(10), ok: false, reason: 3, balance: dec!(88.5) })
    );
    pile.send_realtime(2);
    assert_eq!(platform.recv_realtime().await.gun_status(), proto::ykc::GunStatus::Idle);

    pile.swipe_card(1, card);
    assert_eq!(platform.recv().await.1, Message::CardStart(CardStart { gun: 1, ..swipe }));
    platform.send(verdict(1, serial(11), true, CardStartVerdict::NONE).into()).await;
    let rt = platform.recv_realtime().await;
    assert_eq!((rt.gun_status(), rt.serial), (proto::ykc::GunStatus::Charging, serial(11)));
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::CardVerdict { .. }), WAIT).await,
        Some(Event::CardVerdict { gun: 1, serial: serial(11), ok: true, reason: 0, balance: dec!(88.5) })
    );
    pile.stop_at_pile(1, 0x45);
    platform.recv_realtime().await;
    let record = platform.recv_record().await;
    assert_eq!(
        (record.serial, record.origin, record.physical_card),
        (serial(11), TransactionRecord::ORIGIN_CARD, card)
    );
}

#[tokio::test]
async fn auto_meter_advances_while_charging() {
    let cfg = PileConfig { realtime: ms(50), auto_meter: Some(dec!(36)), kind: wire::Login::AC, ..config(1) };
    let (mut platform, mut pile) = Platform::start(cfg).await;
    platform.accept_login(&mut pile).await;
    platform.start_charge(&pile, 1, serial(8)).await;
    let mut last = platform.recv_realtime().await.kwh;
    for _ in 0..3 {
        let rt = platform.recv_realtime().await;
        assert_eq!(rt.gun_status(), proto::ykc::GunStatus::Charging);
        assert_eq!((rt.voltage, rt.current), (dec!(380.0), dec!(94.7)));
        // 36 kW is 0.01 kWh a second: a 50 ms tick adds about 0.0005.
        assert!(rt.kwh > last, "{} after {}", rt.kwh, last);
        last = rt.kwh;
    }
    pile.stop_at_pile(1, 0x6B);
    let rt = platform.recv_realtime().await;
    assert_eq!(rt.gun_status(), proto::ykc::GunStatus::Idle);
    let record = platform.recv_record().await;
    assert!(record.kwh >= last);
    assert_eq!(record.meter_end - record.meter_start, record.kwh);
    assert_eq!(record.stop_reason, 0x6B);
}

#[tokio::test]
async fn nothing_is_sent_or_answered_before_login() {
    let (mut platform, mut pile) = Platform::start(config(2)).await;
    // No heartbeats and no answers until logged in.
    platform.send(RealTimeRequest { pile: pile.id().clone(), gun: 1 }.into()).await;
    let early = tokio::time::timeout(ms(200), platform.framed.next()).await;
    assert!(early.is_err(), "pile spoke before login: {early:?}");
    assert!(matches!(pile.next_event().await, Some(Event::Frame { kind: kind::REALTIME_REQUEST, .. })));

    platform.accept_login(&mut pile).await;
    let mut heartbeats = Vec::new();
    while heartbeats.len() < 2 {
        let frame =
            tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap().unwrap().unwrap().unwrap();
        if let Message::Heartbeat(hb) = Message::decode(&frame).unwrap() {
            assert!(!hb.fault);
            heartbeats.push(hb.gun);
        }
    }
    assert_eq!(heartbeats, vec![1, 2]);
}

#[tokio::test]
async fn refused_login_closes_the_connection() {
    let (mut platform, mut pile) = Platform::start(config(1)).await;
    platform.reply(LoginReply { pile: pile.id().clone(), accepted: false }.into(), 0).await;
    assert_eq!(pile.next_event().await, Some(Event::LoginRefused));
    assert_eq!(pile.next_event().await, Some(Event::Closed));
    assert_eq!(pile.next_event().await, None);
    let end = tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap();
    assert!(end.is_none(), "expected EOF, got {end:?}");
}

#[tokio::test]
async fn raw_bytes_and_close() {
    let (mut platform, mut pile) = Platform::start(config(1)).await;
    platform.accept_login(&mut pile).await;
    pile.send_raw(vec![0x00, 0x11, 0x22]);
    let fault = loop {
        let item = tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap().unwrap().unwrap();
        if let Err(fault) = item {
            break fault; // heartbeats may come first
        }
    };
    assert_eq!(fault, proto::ykc::FrameFault::Garbage { skipped: 3 });
    let check = proto::ykc::BillingModelCheck { pile: pile.id().clone(), model: 0 };
    let frame = Message::from(check.clone()).encode(0).unwrap();
    pile.send_frame(frame.kind, frame.body.to_vec());
    assert_eq!(platform.recv().await.1, Message::BillingModelCheck(check));
    pile.request_billing_model();
    let (_, msg) = platform.recv().await;
    assert_eq!(msg, Message::BillingModelRequest(BillingModelRequest { pile: pile.id().clone() }));
    pile.close();
    let rest = platform.collect(ms(500)).await;
    assert!(rest.is_empty());
    let end = tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap();
    assert!(matches!(end, None | Some(Err(_))), "expected the connection to end, got {end:?}");
}

#[tokio::test]
async fn pile_ids_that_do_not_fit_seven_bcd_bytes_are_refused() {
    let addr = "127.0.0.1:9".parse().unwrap();
    for id in ["320106000192361", "3201060001923A", ""] {
        let err = SimPile::connect(addr, PileConfig::new(PileId::from(id), 1)).await.err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{id}");
    }
}
