//! The integers of the day rows' blobs: LEB128 varints, zigzag for signed values, so that
//! most counts take one byte.

pub fn put_u64(blob: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        blob.push((value as u8) | 0x80);
        value >>= 7;
    }
    blob.push(value as u8);
}

pub fn put_i64(blob: &mut Vec<u8>, value: i64) {
    put_u64(blob, ((value << 1) ^ (value >> 63)) as u64);
}

/// Reads a varint from the front of `blob` and advances past it.
pub fn take_u64(blob: &mut &[u8]) -> Result<u64, &'static str> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = blob.split_first().ok_or("truncated number")?;
        *blob = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("number longer than 64 bits")
}

pub fn take_i64(blob: &mut &[u8]) -> Result<i64, &'static str> {
    let value = take_u64(blob)?;
    Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
}

/// Reads `n` bytes from the front of `blob` and advances past them.
pub fn take_bytes<'a>(blob: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    let (bytes, rest) = blob.split_at_checked(n).ok_or("truncated bytes")?;
    *blob = rest;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_survive_the_round_trip() {
        let values = [0, 1, -1, 63, -64, 64, 300, i64::MAX, i64::MIN];
        let mut blob = Vec::new();
        for value in values {
            put_i64(&mut blob, value);
            put_u64(&mut blob, value as u64);
        }
        let mut rest = blob.as_slice();
        for value in values {
            assert_eq!(take_i64(&mut rest), Ok(value));
            assert_eq!(take_u64(&mut rest), Ok(value as u64));
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn damaged_numbers_are_errors() {
        assert!(take_u64(&mut [0x80u8].as_slice()).is_err());
        assert!(take_u64(&mut [0xffu8; 11].as_slice()).is_err());
        assert!(take_bytes(&mut [1u8, 2].as_slice(), 3).is_err());
    }
}
