//! CRC32C (Castagnoli), as GCS and Azure report object checksums: slicing-by-8 tables,
//! no dependency.

/// CRC32C (Castagnoli, reflected polynomial `0x82F63B78`), eight tables for
/// slicing-by-8.
const CRC32C_TABLES: [[u32; 256]; 8] = crc32c_tables();

const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

/// Continues a CRC32C over `data` (start with `0`).
pub fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    let t = &CRC32C_TABLES;
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for b in &mut chunks {
        let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][b[4] as usize]
            ^ t[2][b[5] as usize]
            ^ t[1][b[6] as usize]
            ^ t[0][b[7] as usize];
    }
    for &b in chunks.remainder() {
        c = (c >> 8) ^ t[0][((c ^ u32::from(b)) & 0xff) as usize];
    }
    !c
}

/// The CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_update(0, data)
}

/// The CRC32C of `a` followed by `b`, from `crc32c(a)`, `crc32c(b)` and `b`'s length,
/// without the data (zlib's `crc32_combine`, with the Castagnoli polynomial): how a
/// composite object's checksum is checked against its parts'.
pub fn crc32c_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    fn times(mat: &[u32; 32], mut vec: u32) -> u32 {
        let mut sum = 0;
        let mut i = 0;
        while vec != 0 {
            if vec & 1 != 0 {
                sum ^= mat[i];
            }
            vec >>= 1;
            i += 1;
        }
        sum
    }
    fn square(out: &mut [u32; 32], mat: &[u32; 32]) {
        for n in 0..32 {
            out[n] = times(mat, mat[n]);
        }
    }
    if len_b == 0 {
        return crc_a;
    }
    let mut crc = crc_a;
    let mut len = len_b;
    // The operator for one zero bit, then for two and four.
    let mut odd = [0u32; 32];
    let mut even = [0u32; 32];
    odd[0] = 0x82F6_3B78;
    let mut row = 1u32;
    for slot in odd.iter_mut().skip(1) {
        *slot = row;
        row <<= 1;
    }
    square(&mut even, &odd);
    square(&mut odd, &even);
    loop {
        square(&mut even, &odd);
        if len & 1 != 0 {
            crc = times(&even, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
        square(&mut odd, &even);
        if len & 1 != 0 {
            crc = times(&odd, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
    }
    crc ^ crc_b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        assert_eq!(crc32c_update(crc32c_update(0, &data[..333]), &data[333..]), crc32c(&data));
    }

    #[test]
    fn combined_crcs_equal_the_crc_of_the_concatenation() {
        let data: Vec<u8> = (0..100_003u32).map(|i| (i * 31 % 253) as u8).collect();
        for cut in [0, 1, 7, 4096, 50_000, 100_002, 100_003] {
            let (a, b) = data.split_at(cut);
            assert_eq!(crc32c_combine(crc32c(a), crc32c(b), b.len() as u64), crc32c(&data), "cut at {cut}");
        }
        let three = crc32c_combine(crc32c_combine(crc32c(b"ab"), crc32c(b"cde"), 3), crc32c(b"f"), 1);
        assert_eq!(three, crc32c(b"abcdef"));
    }
}
