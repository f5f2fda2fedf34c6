//! The console's session list: narrowed by station, pile, driver, state and
//! time, newest first, paged by the last session of a page; and a revoked
//! login token that no longer reads.

use domain::accounts::{Principal, Token};
use domain::payer::Payer;
use domain::session::{SessionRecord, SessionState};
use rust_decimal_macros::dec;
use store::SessionFilter;
use vocab::SessionId;

use super::{new_pile, session_at, site, t, unique, Db};

pub async fn run(db: &Db) {
    sessions_are_listed_newest_first_as_the_filter_says(db).await;
    a_revoked_token_is_gone(db).await;
    a_rule_is_replaced_in_place(db).await;
}

async fn a_rule_is_replaced_in_place(db: &Db) {
    use domain::accounts::{NewRule, Rule, RuleKind};
    let new = NewRule {
        operator_id: 1,
        name: unique("rule"),
        class: "staff".into(),
        station_id: None,
        kind: RuleKind::Discount { percent: dec!(10) },
        valid_from: None,
        valid_until: None,
    };
    let rule = db.create_rule(&new).await.unwrap();
    let changed = Rule { id: rule.id, rule: NewRule { kind: RuleKind::Allow, class: "fleet".into(), ..new } };
    assert!(db.update_rule(&changed).await.unwrap());
    let all = db.rules().await.unwrap();
    assert_eq!(all.iter().filter(|r| r.id == rule.id).collect::<Vec<_>>(), vec![&changed]);
    assert!(!db.update_rule(&Rule { id: super::MISSING, ..changed }).await.unwrap());
}

fn ids(list: &[SessionRecord]) -> Vec<&str> {
    list.iter().map(|s| s.id.as_str()).collect()
}

async fn sessions_are_listed_newest_first_as_the_filter_says(db: &Db) {
    let (a, b) = (site(db).await, site(db).await);
    let a2 = new_pile(db, &a.station, &unique("pile")).await;
    let day = 86_400_000_000;
    let d = db.create_driver(&unique("phone"), None, None).await.unwrap().id;
    let order = domain::accounts::Order {
        id: unique("order"),
        driver_id: d,
        amount: dec!(10),
        provider: "sandbox".into(),
        status: domain::accounts::OrderStatus::Pending,
        provider_txn: None,
        created_at: t(1),
        paid_at: None,
    };
    db.create_order(&order).await.unwrap();
    db.pay_order(&order.id, &unique("txn"), t(2)).await.unwrap();

    let oldest = session_at(&a, &a.pile, t(100));
    let on_a2 = session_at(&a, &a2, t(200));
    let mut charging = session_at(&a, &a.pile, t(300));
    charging.start_result(true, t(301), None).unwrap();
    let mut paid = session_at(&a, &a.pile, t(400));
    paid.terms.payer = Some(Payer { driver: d, held: dec!(1) });
    // Two of one instant, and one 40 days on (another month).
    let mut twins = [session_at(&a, &a.pile, t(500)), session_at(&a, &a.pile, t(500))];
    twins.sort_by(|x, y| y.id.cmp(&x.id));
    let later = session_at(&a, &a.pile, t(40 * day));
    let elsewhere = session_at(&b, &b.pile, t(250));
    for s in [&oldest, &on_a2, &charging, &paid, &twins[0], &twins[1], &later, &elsewhere] {
        db.insert_session(s).await.unwrap();
    }
    let all_a = [&later, &twins[0], &twins[1], &paid, &charging, &on_a2, &oldest];
    let expect = |list: &[&SessionRecord]| list.iter().map(|s| s.id.as_str().to_owned()).collect::<Vec<_>>();
    let list = |f: SessionFilter| async move { db.list_sessions(&f).await.unwrap() };
    let at_a = SessionFilter { stations: Some(vec![a.station.id]), limit: 100, ..Default::default() };

    let found = list(at_a.clone()).await;
    assert_eq!(ids(&found), expect(&all_a), "a station's sessions, newest first");
    assert_eq!(found[4], charging, "listed as stored");
    let both = list(SessionFilter { stations: Some(vec![a.station.id, b.station.id]), ..at_a.clone() }).await;
    let mut with_b: Vec<&SessionRecord> = all_a.to_vec();
    with_b.insert(5, &elsewhere);
    assert_eq!(ids(&both), expect(&with_b), "two stations' sessions, merged newest first");
    assert!(list(SessionFilter { stations: Some(vec![]), ..at_a.clone() }).await.is_empty());

    let by_pile = SessionFilter { stations: None, pile: Some(a2.clone()), limit: 100, ..Default::default() };
    assert_eq!(ids(&list(by_pile).await), expect(&[&on_a2]), "one pile's, at any station");
    let by_state = SessionFilter { state: Some(SessionState::Charging), ..at_a.clone() };
    assert_eq!(ids(&list(by_state).await), expect(&[&charging]));
    let by_driver = SessionFilter { stations: None, driver: Some(d), limit: 100, ..Default::default() };
    assert_eq!(ids(&list(by_driver).await), expect(&[&paid]), "a driver's wallet charges");
    let by_driver_elsewhere = SessionFilter {
        stations: Some(vec![b.station.id]),
        driver: Some(d),
        limit: 100,
        ..Default::default()
    };
    assert!(list(by_driver_elsewhere).await.is_empty());
    let window = SessionFilter { from: Some(t(200)), until: Some(t(500)), ..at_a.clone() };
    assert_eq!(
        ids(&list(window).await),
        expect(&[&paid, &charging, &on_a2]),
        "from inclusive, until exclusive"
    );

    // Pages of two, each after the last of the one before, add up to the list.
    let mut paged = Vec::new();
    let mut before: Option<(chrono::DateTime<chrono::Utc>, SessionId)> = None;
    loop {
        let page = list(SessionFilter { limit: 2, before: before.clone(), ..at_a.clone() }).await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        before = Some((last.created_at, last.id.clone()));
        paged.extend(page.iter().map(|s| s.id.as_str().to_owned()));
    }
    assert_eq!(paged, expect(&all_a), "pages split the twins correctly too");
}

async fn a_revoked_token_is_gone(db: &Db) {
    let hash = unique("hash");
    let token = Token { principal: Principal::Staff { user_id: 1 }, expires_at: t(9_000_000_000_000) };
    db.create_token(&hash, &token).await.unwrap();
    assert_eq!(db.token(&hash).await.unwrap(), Some(token));
    db.revoke_token(&hash).await.unwrap();
    assert_eq!(db.token(&hash).await.unwrap(), None);
    db.revoke_token(&hash).await.unwrap();
}
