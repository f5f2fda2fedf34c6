//! A top-up's extra hold is booked in the ledger before the session's record
//! of it is written: after a crash between the two, a recovered session
//! takes what it holds from the ledger, so its bill releases all of it.

use actors::session::held_from_ledger;
use domain::ledger::{Account, Entry};
use domain::payer::Payer;
use domain::pricing::{Pricing, Terms};
use domain::session::SessionRecord;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::prelude::*;
use vocab::{PortNo, SessionId};

mod common;

#[actix_rt::test]
async fn a_recovered_session_holds_what_the_ledger_holds_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tariff, record) = common::store_with_pile(dir.path()).await;
    let (pile, created_at) = (record.id.clone(), record.created_at);
    let driver = store.create_driver("13800000000", None, None).await.unwrap().id;
    store.post_entry(&Entry::top_up("o-1", driver, "sandbox", dec!(50), created_at)).await.unwrap();

    let terms = Terms {
        pricing: Pricing::TimeOfUse { tariff_id: tariff.id, tou: tariff.tou },
        plan_id: None,
        prepaid: None,
        service_fee: Decimal::ZERO,
        minimum: Decimal::ZERO,
        utc_offset_minutes: 480,
        discount: None,
        payer: Some(Payer { driver, held: dec!(10) }),
        merchant_id: None,
    };
    let id = SessionId("s-1".into());
    store
        .insert_session(&SessionRecord::new(
            id.clone(),
            pile.clone(),
            PortNo(1),
            record.station_id,
            terms,
            created_at,
        ))
        .await
        .unwrap();
    // A top-up raised the hold by 5.00; the process died before the
    // session's record of it was written.
    store.post_entry(&Entry::hold_more(&id, driver, dec!(5), 2, created_at)).await.unwrap();
    assert_eq!(store.balance(&Account::Held(driver)).await.unwrap().abs(), dec!(15));

    let mut rec = store.open_sessions(&pile).await.unwrap().pop().unwrap();
    assert_eq!(rec.terms.payer.as_ref().unwrap().held, dec!(10), "the stored record is behind the ledger");
    held_from_ledger(&store, &mut rec).await.unwrap();
    assert_eq!(rec.terms.payer.as_ref().unwrap().held, dec!(15));

    // Billed from there, the charge leaves nothing stuck in Held.
    rec.start_result(true, created_at, None).unwrap();
    let reason = domain::session::StopReason { code: 0, text: "done".into() };
    let bill = rec.finish(created_at + chrono::Duration::minutes(30), dec!(1), None, reason).unwrap();
    assert!(store.finish_session(&rec, &bill).await.unwrap());
    assert_eq!(store.balance(&Account::Held(driver)).await.unwrap(), Decimal::ZERO);
    assert_eq!(store.balance(&Account::Wallet(driver)).await.unwrap(), dec!(50) - bill.total);
}
