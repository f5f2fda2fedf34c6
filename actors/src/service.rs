//! Whether a port may start a charge: its station, its pile and the port
//! itself are all in service. Every way of starting a charge (an operator,
//! the drivers' app, a swiped card) asks here, so a closed station or a
//! broken socket refuses them all alike.

use store::{Item, ItemKind, StoreError};
use vocab::{PileId, StationId};

use crate::Platform;

/// The first of station, pile and port that is out of service, if any.
pub async fn out_of_service(
    p: &Platform,
    station: StationId,
    pile: &PileId,
    port: u8,
) -> Result<Option<ItemKind>, StoreError> {
    let items =
        [Item::new(ItemKind::Station, station), Item::new(ItemKind::Pile, pile), Item::port(pile, port)];
    let [s, pl, po] = &items;
    let (s, pl, po) = futures::try_join!(
        p.store.out_of_service(s),
        p.store.out_of_service(pl),
        p.store.out_of_service(po)
    )?;
    Ok([s, pl, po].iter().zip(&items).find(|(since, _)| since.is_some()).map(|(_, item)| item.kind))
}
