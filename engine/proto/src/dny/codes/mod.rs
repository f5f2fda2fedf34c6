//! The spec's code tables, one file each, in the spec's order so a reader
//! can hold each against its table. Codes a table lacks read as unknown.

pub mod alarm_kind;
pub mod card_status;
pub mod port_state;
pub mod start_result;
pub mod stop_reason;

/// One row of a code table: the code, what the spec calls it, and how
/// serious it is for the operator (`None`: nothing is wrong).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code<T: 'static> {
    pub code: u8,
    pub name: &'static str,
    pub meaning: T,
}

/// The row of `code`, if the table has one.
pub fn find<T: Copy>(table: &'static [Code<T>], code: u8) -> Option<&'static Code<T>> {
    table.iter().find(|row| row.code == code)
}
