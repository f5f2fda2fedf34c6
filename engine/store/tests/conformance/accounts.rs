//! Drivers and cards every backend must keep: unique phone numbers, cards
//! that belong to drivers.

use store::StoreError;

use super::money::driver;
use super::{t, unique, Db, MISSING};
use domain::accounts::{Card, CardKind, Status};

pub async fn run(db: &Db) {
    drivers_are_unique_by_phone_and_round_trip(db).await;
    cards_belong_to_drivers(db).await;
}

async fn drivers_are_unique_by_phone_and_round_trip(db: &Db) {
    let phone = unique("phone");
    let mut d = db.create_driver(&phone, Some("$argon2id$x"), Some("staff")).await.unwrap();
    assert_eq!(d.status, Status::Active);
    let again = db.create_driver(&phone, None, None).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(db.driver_by_phone(&phone).await.unwrap().as_ref(), Some(&d));
    d.status = Status::Frozen;
    d.class = None;
    d.password_hash = Some("$argon2id$y".into());
    d.last_active_at = t(77);
    db.update_driver(&d).await.unwrap();
    assert_eq!(db.driver(d.id).await.unwrap(), Some(d.clone()));
    let idle = db.inactive_drivers(t(78), 1_000_000).await.unwrap();
    assert!(idle.iter().any(|i| i.id == d.id), "idle since t(77)");
    assert!(idle.windows(2).all(|w| w[0].last_active_at <= w[1].last_active_at), "longest idle first");
    assert!(!db.inactive_drivers(t(77), 1_000_000).await.unwrap().iter().any(|i| i.id == d.id));
    assert!(db.inactive_drivers(t(78), 1).await.unwrap().len() <= 1);
    d.id = MISSING;
    assert!(matches!(db.update_driver(&d).await, Err(StoreError::NotFound(_))));
    assert_eq!(db.driver(MISSING).await.unwrap(), None);
    assert_eq!(db.driver_by_phone(&unique("phone")).await.unwrap(), None);
}

async fn cards_belong_to_drivers(db: &Db) {
    let d = driver(db).await;
    let card = |number: String, driver_id| Card {
        number,
        driver_id,
        kind: CardKind::Physical,
        status: Status::Active,
        created_at: t(9),
    };
    let (a, b) = (card(unique("b-card"), d), card(unique("a-card"), d));
    db.create_card(&a).await.unwrap();
    db.create_card(&b).await.unwrap();
    assert!(matches!(db.create_card(&a).await, Err(StoreError::Conflict(_))));
    let orphan = db.create_card(&card(unique("card"), MISSING)).await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
    assert_eq!(db.cards(d).await.unwrap(), vec![b.clone(), a.clone()], "by number");
    let frozen = db.set_card_status(&a.number, Status::Frozen).await.unwrap().unwrap();
    assert_eq!(frozen.status, Status::Frozen);
    assert_eq!(db.card(&a.number).await.unwrap(), Some(frozen));
    assert_eq!(db.set_card_status(&unique("card"), Status::Frozen).await.unwrap(), None);
}
