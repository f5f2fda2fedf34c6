//! What operators set up, as every backend must keep it: tariffs, plans,
//! stations, piles, operators, merchants and rules, edits, out of service and
//! offline card lists.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::{NewStation, PileRecord, Station, StoreError};

use super::{new_pile, site, t, tou, unique, Db, MISSING};
use domain::accounts::{NewRule, NewUser, Principal, Role, RuleKind, Token};
use domain::allocation::{LimitSchedule, PowerConfig, Transformer};
use domain::pricing::{Pricing, Tier};
use domain::tariff::{Tariff, TouPrices};
use vocab::{PileId, PortNo, Protocol};

pub async fn run(db: &Db) {
    tariff_round_trips(db).await;
    plan_round_trips(db).await;
    station_needs_an_existing_tariff(db).await;
    pile_conflicts_and_needs_an_existing_station(db).await;
    piles_are_ordered_by_id(db).await;
    station_power_round_trips(db).await;
    station_details_round_trip_and_stations_are_listed(db).await;
    operators_own_what_is_created_for_them(db).await;
    edits_replace_and_items_go_out_of_service(db).await;
    offline_lists_are_kept_per_pile(db).await;
    rules_merchants_and_tokens_round_trip(db).await;
}

async fn tariff_round_trips(db: &Db) {
    let name = unique("tariff");
    let created = db.create_tariff(1, &name, &tou()).await.unwrap();
    assert_eq!(created.name, name);
    assert_eq!(created.tou, tou());
    let read = db.tariff(created.id).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(read.tou.prices[0].energy.to_string(), "1.23450", "decimals keep their scale");

    let flat = TouPrices::flat(dec!(0.5), dec!(0.25));
    let other = db.create_tariff(1, "flat", &flat).await.unwrap();
    assert_ne!(other.id, created.id);
    assert_eq!(db.tariff(other.id).await.unwrap().unwrap().tou, flat);
}

async fn plan_round_trips(db: &Db) {
    let pricing = Pricing::PowerTiers {
        tiers: vec![
            Tier { up_to_w: dec!(200), per_hour: dec!(0.50) },
            Tier { up_to_w: dec!(400.0), per_hour: dec!(0.8000) },
        ],
        unit_minutes: 5,
        switch_after_s: 120,
    };
    let name = unique("plan");
    let plan = db.create_plan(1, &name, &pricing).await.unwrap();
    assert_eq!((plan.name.as_str(), &plan.pricing), (name.as_str(), &pricing));
    let read = db.plan(plan.id).await.unwrap().unwrap();
    assert_eq!(read, plan);
    let Pricing::PowerTiers { tiers, .. } = read.pricing else { panic!("kind changed") };
    assert_eq!(tiers[1].per_hour.to_string(), "0.8000", "decimals keep their scale");
    let other =
        db.create_plan(1, "time", &Pricing::Time { per_hour: dec!(1), unit_minutes: 1 }).await.unwrap();
    assert_ne!(other.id, plan.id);
    assert_eq!(db.plan(MISSING).await.unwrap(), None);
}

async fn station_needs_an_existing_tariff(db: &Db) {
    let orphan = NewStation {
        operator_id: 1,
        name: unique("station"),
        tariff_id: MISSING,
        utc_offset_minutes: 480,
        service_fee: Decimal::ZERO,
        minimum_charge: Decimal::ZERO,
        merchant_id: None,
        details: None,
    };
    let err = db.create_station(&orphan).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let tariff = db.create_tariff(1, "t", &tou()).await.unwrap();
    let new = NewStation {
        operator_id: 1,
        name: unique("station"),
        tariff_id: tariff.id,
        utc_offset_minutes: -330,
        service_fee: dec!(0.250),
        minimum_charge: dec!(1),
        merchant_id: None,
        details: None,
    };
    let station = db.create_station(&new).await.unwrap();
    assert_eq!((&station.name, station.tariff_id, station.utc_offset_minutes), (&new.name, tariff.id, -330));
    assert_eq!(station.service_fee.to_string(), "0.250");
    assert_eq!(station.minimum_charge, dec!(1));
    assert_eq!(db.station(station.id).await.unwrap(), Some(station));
}

async fn pile_conflicts_and_needs_an_existing_station(db: &Db) {
    let site = site(db).await;
    let stored = db.pile(&site.pile).await.unwrap().unwrap();
    let expected = PileRecord {
        id: site.pile.clone(),
        station_id: site.station.id,
        protocol: Protocol::Ykc,
        ports: 2,
        created_at: t(1),
    };
    assert_eq!(stored, expected);

    let again = PileRecord { ports: 4, ..expected.clone() };
    let err = db.create_pile(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.pile(&site.pile).await.unwrap().unwrap(), expected, "a conflict changes nothing");

    let homeless = PileRecord { id: PileId(unique("pile")), station_id: MISSING, ..expected };
    let err = db.create_pile(&homeless).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(db.pile(&homeless.id).await.unwrap(), None);
}

async fn piles_are_ordered_by_id(db: &Db) {
    let site = site(db).await;
    let prefix = unique("ordered");
    for suffix in ["b", "c", "a"] {
        new_pile(db, &site.station, &format!("{prefix}-{suffix}")).await;
    }
    let all = db.piles().await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "piles ordered by id");
    let ours: Vec<_> = all.iter().filter(|p| p.id.0.starts_with(&prefix)).map(|p| p.id.0.clone()).collect();
    assert_eq!(ours, ["a", "b", "c"].map(|s| format!("{prefix}-{s}")));
    assert!(all.iter().any(|p| p.id == site.pile));
}

async fn station_power_round_trips(db: &Db) {
    let site = site(db).await;
    assert_eq!(site.station.power, None);
    let power = PowerConfig {
        transformer: Transformer { capacity_w: dec!(400000), margin_w: dec!(20000.5) },
        schedule: LimitSchedule::new(vec![(0, dec!(300000)), (8 * 60, dec!(400000))]).unwrap(),
        ykc_gun_rated_w: dec!(60000),
        ebike_port_min_w: dec!(100),
        ebike_port_max_w: dec!(600),
        priority_ports: vec![(PileId::from("p-1"), PortNo(2))],
    };
    let set = db.set_station_power(site.station.id, Some(&power)).await.unwrap().unwrap();
    assert_eq!(set.power.as_ref(), Some(&power));
    assert_eq!(db.station(site.station.id).await.unwrap().unwrap().power, Some(power));
    let unset = db.set_station_power(site.station.id, None).await.unwrap().unwrap();
    assert_eq!(unset.power, None);
    assert_eq!(db.set_station_power(MISSING, None).await.unwrap(), None);

    let other = db.create_tariff(1, &unique("tariff"), &TouPrices::flat(dec!(2), dec!(1))).await.unwrap();
    let moved = db.set_station_tariff(site.station.id, other.id).await.unwrap().unwrap();
    assert_eq!(moved.tariff_id, other.id);
    assert_eq!(db.station(site.station.id).await.unwrap().unwrap().tariff_id, other.id);
    let err = db.set_station_tariff(site.station.id, MISSING).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(db.set_station_tariff(MISSING, other.id).await.unwrap(), None);
}

async fn station_details_round_trip_and_stations_are_listed(db: &Db) {
    let site = site(db).await;
    let details = store::StationDetails {
        address: "1 Xinjiekou, Nanjing".into(),
        lat: dec!(32.041544),
        lon: dec!(118.784810),
        opening_hours: "07:00-23:00".into(),
        photos: vec!["https://img.example/1.jpg".into()],
    };
    let set = db.set_station_details(site.station.id, Some(&details)).await.unwrap().unwrap();
    assert_eq!(set.details.as_ref(), Some(&details));
    assert_eq!(db.station(site.station.id).await.unwrap().unwrap().details, Some(details.clone()));
    let listed = db.stations().await.unwrap();
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "by id");
    assert_eq!(listed.iter().find(|s| s.id == site.station.id).map(|s| &s.details), Some(&Some(details)));
    assert!(db.set_station_details(site.station.id, None).await.unwrap().unwrap().details.is_none());
    assert_eq!(db.set_station_details(MISSING, None).await.unwrap(), None);
}

async fn operators_own_what_is_created_for_them(db: &Db) {
    let default = db.operator(vocab::DEFAULT_OPERATOR).await.unwrap().expect("every store has it");
    assert_eq!(default.status, domain::accounts::Status::Active);
    let name = unique("operator");
    let op = db.create_operator(&name).await.unwrap();
    assert!(op.id > default.id);
    assert_eq!(db.operator(op.id).await.unwrap(), Some(op.clone()));
    assert_eq!(db.operator(MISSING).await.unwrap(), None);
    let frozen = domain::accounts::Status::Frozen;
    let frozen = db.update_operator(op.id, "renamed", frozen).await.unwrap().unwrap();
    assert_eq!((frozen.name.as_str(), frozen.status), ("renamed", domain::accounts::Status::Frozen));
    assert_eq!(db.operator(op.id).await.unwrap(), Some(frozen.clone()));
    assert_eq!(db.update_operator(MISSING, "x", domain::accounts::Status::Active).await.unwrap(), None);
    let all = db.operators().await.unwrap();
    assert!(all.contains(&frozen) && all.windows(2).all(|w| w[0].id < w[1].id));

    let tariff = db.create_tariff(op.id, &unique("tariff"), &tou()).await.unwrap();
    let hourly = Pricing::Time { per_hour: dec!(1), unit_minutes: 1 };
    let plan = db.create_plan(op.id, &unique("plan"), &hourly).await.unwrap();
    let merchant = db.create_merchant(op.id, &unique("merchant"), dec!(5)).await.unwrap();
    let station = NewStation {
        operator_id: op.id,
        name: unique("station"),
        tariff_id: tariff.id,
        utc_offset_minutes: 480,
        service_fee: dec!(0),
        minimum_charge: dec!(0),
        merchant_id: Some(merchant.id),
        details: None,
    };
    let station = db.create_station(&station).await.unwrap();
    assert_eq!(db.tariff(tariff.id).await.unwrap().unwrap().operator_id, op.id);
    assert_eq!(db.plan(plan.id).await.unwrap().unwrap().operator_id, op.id);
    assert_eq!(db.merchant(merchant.id).await.unwrap().unwrap().operator_id, op.id);
    assert_eq!(db.station(station.id).await.unwrap().unwrap().operator_id, op.id);
    let tariffs = db.tariffs().await.unwrap();
    assert!(tariffs.contains(&tariff) && tariffs.windows(2).all(|w| w[0].id < w[1].id));
    let plans = db.plans().await.unwrap();
    assert!(plans.contains(&plan) && plans.windows(2).all(|w| w[0].id < w[1].id));
    assert!(db.merchants().await.unwrap().contains(&merchant));
}

async fn edits_replace_and_items_go_out_of_service(db: &Db) {
    use store::{Item, ItemKind};
    let site = site(db).await;
    let mut station = site.station.clone();
    station.name = unique("renamed");
    station.service_fee = dec!(0.25);
    station.utc_offset_minutes = -300;
    assert!(db.update_station(&station).await.unwrap());
    assert_eq!(db.station(station.id).await.unwrap(), Some(station.clone()));
    station.merchant_id = Some(MISSING);
    assert!(matches!(db.update_station(&station).await, Err(StoreError::NotFound(_))));
    assert!(!db.update_station(&Station { id: MISSING, ..site.station.clone() }).await.unwrap());

    let mut tariff = db.tariff(station.tariff_id).await.unwrap().unwrap();
    tariff.name = unique("tariff");
    tariff.tou = TouPrices::flat(dec!(3), dec!(1));
    assert!(db.update_tariff(&tariff).await.unwrap());
    assert_eq!(db.tariff(tariff.id).await.unwrap(), Some(tariff.clone()));
    assert!(!db.update_tariff(&Tariff { id: MISSING, ..tariff }).await.unwrap());
    let hourly = Pricing::Time { per_hour: dec!(1), unit_minutes: 1 };
    let mut plan = db.create_plan(1, &unique("plan"), &hourly).await.unwrap();
    plan.pricing = Pricing::Time { per_hour: dec!(2), unit_minutes: 5 };
    assert!(db.update_plan(&plan).await.unwrap());
    assert_eq!(db.plan(plan.id).await.unwrap(), Some(plan));
    let mut merchant = db.create_merchant(1, &unique("merchant"), dec!(5)).await.unwrap();
    merchant.commission_percent = dec!(7.5);
    assert!(db.update_merchant(&merchant).await.unwrap());
    assert_eq!(db.merchant(merchant.id).await.unwrap(), Some(merchant));

    let port = Item::port(&site.pile, 2);
    assert_eq!(db.out_of_service(&port).await.unwrap(), None);
    db.set_out_of_service(&port, Some(t(5))).await.unwrap();
    db.set_out_of_service(&port, Some(t(9))).await.unwrap();
    assert_eq!(db.out_of_service(&port).await.unwrap(), Some(t(5)), "the first time stays");
    let all = db.out_of_service_all(ItemKind::Port).await.unwrap();
    assert_eq!(all.get(&port.key), Some(&t(5)));
    assert!(!db.out_of_service_all(ItemKind::Pile).await.unwrap().contains_key(&port.key), "kinds apart");
    db.set_out_of_service(&port, None).await.unwrap();
    assert_eq!(db.out_of_service(&port).await.unwrap(), None);
    let closed = Item::new(ItemKind::Station, station.id);
    assert_eq!(db.out_of_service(&closed).await.unwrap(), None);
    db.set_out_of_service(&closed, Some(t(7))).await.unwrap();
    assert_eq!(db.out_of_service(&closed).await.unwrap(), Some(t(7)));
}

async fn offline_lists_are_kept_per_pile(db: &Db) {
    let (a, b) = (site(db).await.pile, site(db).await.pile);
    let cards = |l: &[&str]| l.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(db.offline_cards(&a).await.unwrap(), Vec::<String>::new());
    db.set_offline_cards(&a, &cards(&["00000000000000C2", "00000000000000A1"]), true).await.unwrap();
    db.set_offline_cards(&a, &cards(&["00000000000000A1"]), true).await.unwrap();
    db.set_offline_cards(&b, &cards(&["00000000000000B1"]), true).await.unwrap();
    assert_eq!(db.offline_cards(&a).await.unwrap(), cards(&["00000000000000A1", "00000000000000C2"]));
    db.set_offline_cards(&a, &cards(&["00000000000000A1", "00000000000000FF"]), false).await.unwrap();
    assert_eq!(db.offline_cards(&a).await.unwrap(), cards(&["00000000000000C2"]));
    assert_eq!(db.offline_cards(&b).await.unwrap(), cards(&["00000000000000B1"]), "piles apart");
}

async fn rules_merchants_and_tokens_round_trip(db: &Db) {
    let rule = NewRule {
        operator_id: 1,
        name: "fleet".into(),
        class: unique("class"),
        station_id: None,
        kind: RuleKind::Discount { percent: dec!(12.5) },
        valid_from: Some(t(1)),
        valid_until: None,
    };
    let created = db.create_rule(&rule).await.unwrap();
    assert_eq!(created.rule, rule);
    assert!(db.rules().await.unwrap().contains(&created));

    let token = Token { principal: Principal::Driver { driver_id: 42 }, expires_at: t(3_600_000_001) };
    let hash = unique("hash");
    db.create_token(&hash, &token).await.unwrap();
    assert_eq!(db.token(&hash).await.unwrap(), Some(token));
    assert_eq!(db.token(&unique("hash")).await.unwrap(), None);
    assert_eq!(db.merchant(MISSING).await.unwrap(), None);

    let name = unique("user");
    let new = NewUser {
        username: name.clone(),
        password_hash: "$argon2id$u".into(),
        role: Role::Manager,
        operator_id: Some(1),
        merchant_id: None,
    };
    let user = db.create_user(&new).await.unwrap();
    assert_eq!(user.user, new);
    assert!(matches!(db.create_user(&new).await, Err(StoreError::Conflict(_))));
    assert_eq!(db.user(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(db.user_by_name(&name).await.unwrap(), Some(user.clone()));
    assert_eq!(db.user_by_name(&unique("user")).await.unwrap(), None);
    assert_eq!(db.user(MISSING).await.unwrap(), None);
    let admin = NewUser { username: unique("admin"), role: Role::Admin, operator_id: None, ..new };
    let admin = db.create_user(&admin).await.unwrap();
    let users = db.users().await.unwrap();
    assert!(users.windows(2).all(|w| w[0].id < w[1].id), "by id");
    assert!(users.contains(&user) && users.contains(&admin));
    assert_eq!(db.user(admin.id).await.unwrap().unwrap().user.operator_id, None);
}
