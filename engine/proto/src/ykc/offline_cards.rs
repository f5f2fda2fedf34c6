//! The pile's offline card list: the cards it may start without asking the
//! platform, for when the link is down. The platform syncs entries in
//! (0x44 → 0x43), clears them (0x46 → 0x45) and asks whether the pile has
//! them (0x48 → 0x47).
//!
//! The layouts chargeplane speaks (spec v1.6 §8.11–§8.16). The platform's
//! lists are a count byte and that many entries; the pile's answers have no
//! count, their entries fill the rest of the body. A frame carries as many
//! entries as fit its 196-byte body (the spec's own maxima of 15, 24 and 26
//! cards would not fit its 200-byte frame limit):
//!
//! ```text
//! 0x44 ↓ sync     pile 7 | count 1 | count × (logical card BCD 8 | physical card 8)   ≤ 11 cards
//! 0x43 ↑ result   pile 7 | ok 1 (1 saved) | failure reason 1
//! 0x46 ↓ clear    pile 7 | count 1 | count × physical card 8                          ≤ 23 cards
//! 0x45 ↑ result   pile 7 | n × (physical card 8 | ok 1 | reason 1)                    ≤ 18 cards
//! 0x48 ↓ query    pile 7 | count 1 | count × physical card 8                          ≤ 23 cards
//! 0x47 ↑ result   pile 7 | n × (physical card 8 | present 1)                          ≤ 21 cards
//! ```
//!
//! Encoding more entries than fit is an error; send several frames. A body
//! shorter than its count declares is `DecodeError::Short`; bytes after the
//! last whole entry of an answer are ignored.

use vocab::PileId;

use super::fields::{DecodeError, EncodeError, Reader, Writer, Ykc};
use super::frame::MAX_BODY;
use crate::body::{Body, Misfit};

/// pile 7 + count 1, the head of every list the platform sends.
const HEAD: usize = 8;

/// pile 7, the head of the pile's answers, which carry no count.
const ANSWER_HEAD: usize = 7;

/// The whole entries of `size` bytes left in the body, each read by `entry`
/// from its bytes; a partial entry at the end is ignored.
fn read_entries<T>(r: &mut Reader<'_>, size: usize, entry: impl Fn(&[u8]) -> T) -> Vec<T> {
    r.rest().chunks_exact(size).map(entry).collect()
}

/// Fails when an answer lists more than `max` entries.
fn check_entries(n: usize, max: usize) -> Result<(), EncodeError> {
    if n > max {
        return Err(EncodeError::from(Misfit::out_of_range("card count", n)));
    }
    Ok(())
}

/// The physical card number an answer entry starts with.
fn entry_card(e: &[u8]) -> [u8; 8] {
    let mut card = [0; 8];
    card.copy_from_slice(&e[..8]);
    card
}

/// Reads a count byte and that many entries of `size` bytes each.
fn read_list<T>(
    r: &mut Reader<'_>,
    size: usize,
    mut entry: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = usize::from(r.u8()?);
    r.need(n * size)?;
    (0..n).map(|_| entry(r)).collect()
}

/// Writes the count byte of a list of `n` entries, at most `max`.
fn write_count(w: &mut Writer, n: usize, max: usize, field: &'static str) -> Result<(), EncodeError> {
    let count = u8::try_from(n)
        .ok()
        .filter(|_| n <= max)
        .ok_or_else(|| EncodeError::from(Misfit::out_of_range(field, n)))?;
    w.u8(count);
    Ok(())
}

/// One entry of the offline list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineCard {
    /// BCD on the wire, kept raw.
    pub logical_card: [u8; 8],
    pub physical_card: [u8; 8],
}

/// 0x44: cards to add to the pile's offline list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineCardSync {
    pub pile: PileId,
    /// At most `MAX_CARDS`.
    pub cards: Vec<OfflineCard>,
}

impl OfflineCardSync {
    const ENTRY: usize = 16;
    pub const MAX_CARDS: usize = (MAX_BODY - HEAD) / Self::ENTRY;
}

impl Body<Ykc> for OfflineCardSync {
    const LEN: usize = HEAD;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let cards = read_list(r, Self::ENTRY, |r| {
            Ok(OfflineCard { logical_card: r.bytes()?, physical_card: r.bytes()? })
        })?;
        Ok(OfflineCardSync { pile, cards })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        write_count(w, self.cards.len(), Self::MAX_CARDS, "offline card count")?;
        for c in &self.cards {
            w.bytes(&c.logical_card);
            w.bytes(&c.physical_card);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        HEAD + Self::ENTRY * self.cards.len()
    }
}

/// 0x43: the pile's answer to an `OfflineCardSync`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineCardSyncResult {
    pub pile: PileId,
    /// 0x01 on the wire when the cards were saved.
    pub ok: bool,
    /// One of the `OfflineCardSyncResult` reason constants when not.
    pub reason: u8,
}

impl OfflineCardSyncResult {
    pub const NONE: u8 = 0x00;
    pub const BAD_CARD_NUMBER: u8 = 0x01;
    pub const NO_SPACE: u8 = 0x02;
}

impl Body<Ykc> for OfflineCardSyncResult {
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OfflineCardSyncResult { pile: r.pile()?, ok: r.flag()?, reason: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.flag(self.ok);
        w.u8(self.reason);
        Ok(())
    }
}

/// Physical card numbers after a count byte: the body of 0x46 and 0x48.
fn read_cards(r: &mut Reader<'_>) -> Result<Vec<[u8; 8]>, DecodeError> {
    read_list(r, 8, |r| Ok(r.bytes()?))
}

fn write_cards(w: &mut Writer, cards: &[[u8; 8]], max: usize) -> Result<(), EncodeError> {
    write_count(w, cards.len(), max, "card count")?;
    cards.iter().for_each(|c| w.bytes(c));
    Ok(())
}

/// 0x46: cards to remove from the pile's offline list, by physical number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineCardClear {
    pub pile: PileId,
    /// At most `MAX_CARDS`.
    pub cards: Vec<[u8; 8]>,
}

impl OfflineCardClear {
    pub const MAX_CARDS: usize = (MAX_BODY - HEAD) / 8;
}

impl Body<Ykc> for OfflineCardClear {
    const LEN: usize = HEAD;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OfflineCardClear { pile: r.pile()?, cards: read_cards(r)? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        write_cards(w, &self.cards, Self::MAX_CARDS)
    }

    fn encoded_len(&self) -> usize {
        HEAD + 8 * self.cards.len()
    }
}

/// One card's outcome in an `OfflineCardClearResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardRemoval {
    pub physical_card: [u8; 8],
    /// 0x01 on the wire when the card was removed.
    pub ok: bool,
    /// One of the `CardRemoval` reason constants when not.
    pub reason: u8,
}

impl CardRemoval {
    pub const NONE: u8 = 0x00;
    pub const BAD_CARD_NUMBER: u8 = 0x01;
}

/// 0x45: the pile's answer to an `OfflineCardClear`, card by card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineCardClearResult {
    pub pile: PileId,
    /// At most `MAX_CARDS`.
    pub cards: Vec<CardRemoval>,
}

impl OfflineCardClearResult {
    const ENTRY: usize = 10;
    pub const MAX_CARDS: usize = (MAX_BODY - ANSWER_HEAD) / Self::ENTRY;
}

impl Body<Ykc> for OfflineCardClearResult {
    const LEN: usize = ANSWER_HEAD;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let cards = read_entries(r, Self::ENTRY, |e| CardRemoval {
            physical_card: entry_card(e),
            ok: e[8] != 0,
            reason: e[9],
        });
        Ok(OfflineCardClearResult { pile, cards })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        check_entries(self.cards.len(), Self::MAX_CARDS)?;
        w.pile(&self.pile)?;
        for c in &self.cards {
            w.bytes(&c.physical_card);
            w.flag(c.ok);
            w.u8(c.reason);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        ANSWER_HEAD + Self::ENTRY * self.cards.len()
    }
}

/// 0x48: asks whether the pile's offline list holds these cards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineCardQuery {
    pub pile: PileId,
    /// At most `MAX_CARDS`.
    pub cards: Vec<[u8; 8]>,
}

impl OfflineCardQuery {
    pub const MAX_CARDS: usize = (MAX_BODY - HEAD) / 8;
}

impl Body<Ykc> for OfflineCardQuery {
    const LEN: usize = HEAD;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OfflineCardQuery { pile: r.pile()?, cards: read_cards(r)? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        write_cards(w, &self.cards, Self::MAX_CARDS)
    }

    fn encoded_len(&self) -> usize {
        HEAD + 8 * self.cards.len()
    }
}

/// One card's answer in an `OfflineCardQueryResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardPresence {
    pub physical_card: [u8; 8],
    /// 0x01 on the wire when the card is on the pile's list.
    pub present: bool,
}

/// 0x47: the pile's answer to an `OfflineCardQuery`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineCardQueryResult {
    pub pile: PileId,
    /// At most `MAX_CARDS`.
    pub cards: Vec<CardPresence>,
}

impl OfflineCardQueryResult {
    const ENTRY: usize = 9;
    pub const MAX_CARDS: usize = (MAX_BODY - ANSWER_HEAD) / Self::ENTRY;
}

impl Body<Ykc> for OfflineCardQueryResult {
    const LEN: usize = ANSWER_HEAD;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let cards = read_entries(r, Self::ENTRY, |e| CardPresence {
            physical_card: entry_card(e),
            present: e[8] != 0,
        });
        Ok(OfflineCardQueryResult { pile, cards })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        check_entries(self.cards.len(), Self::MAX_CARDS)?;
        w.pile(&self.pile)?;
        for c in &self.cards {
            w.bytes(&c.physical_card);
            w.flag(c.present);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        ANSWER_HEAD + Self::ENTRY * self.cards.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::body::Unfit;
    use bytes::Bytes;

    use super::*;
    use crate::ykc::testing::{pile, round_trip};
    use crate::ykc::{kind, Frame, Message};

    /// A realistic physical card number (a MIFARE UID, zero-padded).
    fn card(n: u8) -> [u8; 8] {
        [0xD4, 0x1C, 0x6E, n, 0, 0, 0, 0]
    }

    fn logical(n: u8) -> [u8; 8] {
        [0, 0, 0, 0, 0x20, 0x26, 0x03, n]
    }

    #[test]
    fn maxima_fit_the_body() {
        assert_eq!(OfflineCardSync::MAX_CARDS, 11);
        assert_eq!(OfflineCardClear::MAX_CARDS, 23);
        assert_eq!(OfflineCardClearResult::MAX_CARDS, 18);
        assert_eq!(OfflineCardQuery::MAX_CARDS, 23);
        assert_eq!(OfflineCardQueryResult::MAX_CARDS, 21);
    }

    #[test]
    fn sync_round_trip_and_layout() {
        let cards: Vec<_> =
            (1..=3).map(|n| OfflineCard { logical_card: logical(n), physical_card: card(n) }).collect();
        let body = round_trip(Message::OfflineCardSync(OfflineCardSync { pile: pile(), cards }));
        assert_eq!(body.len(), 8 + 3 * 16);
        assert_eq!(body[7], 3);
        assert_eq!(&body[8..16], &logical(1));
        assert_eq!(&body[16..24], &card(1));
        assert_eq!(&body[40..48], &logical(3));
        assert_eq!(&body[48..], &card(3));
        round_trip(Message::OfflineCardSync(OfflineCardSync { pile: pile(), cards: vec![] }));
    }

    #[test]
    fn sync_of_the_most_cards_fits_and_one_more_does_not_encode() {
        let full = |n: usize| OfflineCardSync {
            pile: pile(),
            cards: (0..n)
                .map(|i| OfflineCard { logical_card: logical(i as u8), physical_card: card(i as u8) })
                .collect(),
        };
        assert_eq!(round_trip(Message::OfflineCardSync(full(11))).len(), 184);
        assert!(matches!(
            Message::OfflineCardSync(full(12)).encode(0),
            Err(EncodeError::Misfit(Misfit { field: "offline card count", why: Unfit::OutOfRange, .. }))
        ));
    }

    #[test]
    fn sync_result_round_trip() {
        let body = round_trip(Message::OfflineCardSyncResult(OfflineCardSyncResult {
            pile: pile(),
            ok: true,
            reason: OfflineCardSyncResult::NONE,
        }));
        assert_eq!(&body[7..], &[1, 0]);
        round_trip(Message::OfflineCardSyncResult(OfflineCardSyncResult {
            pile: pile(),
            ok: false,
            reason: OfflineCardSyncResult::NO_SPACE,
        }));
    }

    #[test]
    fn clear_and_result_round_trip() {
        let body = round_trip(Message::OfflineCardClear(OfflineCardClear {
            pile: pile(),
            cards: vec![card(1), card(2)],
        }));
        assert_eq!(body.len(), 24);
        assert_eq!(&body[16..], &card(2));
        let body = round_trip(Message::OfflineCardClearResult(OfflineCardClearResult {
            pile: pile(),
            cards: vec![
                CardRemoval { physical_card: card(1), ok: true, reason: CardRemoval::NONE },
                CardRemoval { physical_card: card(2), ok: false, reason: CardRemoval::BAD_CARD_NUMBER },
            ],
        }));
        assert_eq!(body.len(), 27);
        assert_eq!(&body[7..15], &card(1));
        assert_eq!(&body[15..17], &[1, 0]);
        assert_eq!(&body[25..], &[0, 1]);
    }

    #[test]
    fn query_and_result_round_trip() {
        let cards = vec![card(7), card(8), card(9)];
        let body = round_trip(Message::OfflineCardQuery(OfflineCardQuery { pile: pile(), cards }));
        assert_eq!(body.len(), 32);
        let body = round_trip(Message::OfflineCardQueryResult(OfflineCardQueryResult {
            pile: pile(),
            cards: vec![
                CardPresence { physical_card: card(7), present: true },
                CardPresence { physical_card: card(8), present: false },
            ],
        }));
        assert_eq!(body.len(), 25);
        assert_eq!(body[15], 1);
        assert_eq!(body[24], 0);
        let too_many = OfflineCardQuery { pile: pile(), cards: vec![card(0); 24] };
        assert!(Message::OfflineCardQuery(too_many).encode(0).is_err());
    }

    #[test]
    fn a_count_the_body_cannot_hold_is_short_and_extra_bytes_are_ignored() {
        let m = Message::OfflineCardQuery(OfflineCardQuery { pile: pile(), cards: vec![card(1), card(2)] });
        let body = m.encode(0).unwrap().body;
        let cut = Frame { seq: 0, enc: 0, kind: kind::OFFLINE_CARD_QUERY, body: body.slice(..23) };
        assert_eq!(
            Message::decode(&cut),
            Err(DecodeError::Short { kind: kind::OFFLINE_CARD_QUERY, need: 24, got: 23 })
        );
        let no_count = Frame { body: body.slice(..7), ..cut.clone() };
        assert!(matches!(Message::decode(&no_count), Err(DecodeError::Short { need: 8, got: 7, .. })));
        let mut longer = body.to_vec();
        longer.extend_from_slice(&[0xFF; 5]);
        let longer = Frame { body: Bytes::from(longer), ..cut };
        assert_eq!(Message::decode(&longer).unwrap(), m);
    }
}
