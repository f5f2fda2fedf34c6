//! Charge points' OCPP passwords every backend must keep (security profile 1).

use super::{unique, Db};
use vocab::PileId;

pub async fn run(db: &Db) {
    charge_point_passwords_are_set_replaced_and_removed(db).await;
}

async fn charge_point_passwords_are_set_replaced_and_removed(db: &Db) {
    let pile = PileId::from(unique("CP-PW").as_str());
    assert_eq!(db.ocpp_password(&pile).await.unwrap(), None);
    db.set_ocpp_password(&pile, Some("$argon2id$one")).await.unwrap();
    db.set_ocpp_password(&pile, Some("$argon2id$two")).await.unwrap();
    assert_eq!(db.ocpp_password(&pile).await.unwrap().as_deref(), Some("$argon2id$two"));
    db.set_ocpp_password(&pile, None).await.unwrap();
    assert_eq!(db.ocpp_password(&pile).await.unwrap(), None);
    // One left set, so an export has one to move.
    let kept = PileId::from(unique("CP-PW").as_str());
    db.set_ocpp_password(&kept, Some("$argon2id$kept")).await.unwrap();
}
