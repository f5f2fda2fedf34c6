//! CRC-16/MODBUS, the checksum that closes every YKC frame.
//!
//! Reflected polynomial 0xA001, initial value 0xFFFF, no final xor. The
//! table is built at compile time so checking a frame costs one lookup per
//! byte; the gateway checks every frame of every pile.

const POLY: u16 = 0xA001;

const TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// The CRC of `data`; YKC sends it low byte first.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF, |crc, &b| (crc >> 8) ^ TABLE[usize::from((crc as u8) ^ b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitwise(data: &[u8]) -> u16 {
        let mut crc = 0xFFFFu16;
        for &b in data {
            crc ^= u16::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
            }
        }
        crc
    }

    #[test]
    fn standard_check_value() {
        assert_eq!(crc16(b"123456789"), 0x4B37);
        assert_eq!(crc16(&[]), 0xFFFF);
    }

    #[test]
    fn table_matches_the_bitwise_definition() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for n in 0..data.len() {
            assert_eq!(crc16(&data[..n]), bitwise(&data[..n]));
        }
    }

    #[test]
    fn known_good_frames() {
        // 68 0C | 0000 00 02 55031412782305 00 | DA4C (login accepted)
        let login = [0x00, 0x00, 0x00, 0x02, 0x55, 0x03, 0x14, 0x12, 0x78, 0x23, 0x05, 0x00];
        assert_eq!(crc16(&login).to_le_bytes(), [0xDA, 0x4C]);
        // 68 0E | CE04 00 06 55031412782305 0000 00 | 8E2F (billing model unchanged)
        let check = [0xCE, 0x04, 0x00, 0x06, 0x55, 0x03, 0x14, 0x12, 0x78, 0x23, 0x05, 0x00, 0x00, 0x00];
        assert_eq!(crc16(&check).to_le_bytes(), [0x8E, 0x2F]);
    }
}
