//! CRC32C (Castagnoli), as S3, GCS and Azure report object checksums, at hardware speed:
//! `crc-fast` picks the CPU's instructions at run time (SSE4.2 `crc32`, PCLMULQDQ,
//! VPCLMULQDQ / AVX-512 on x86-64; the CRC and PMULL instructions on ARMv8) and falls back
//! to tables elsewhere. Measured on this project's 2-core x86-64 machine: about 17 GiB/s
//! for one 64 MiB buffer and 14 GiB/s fed 16 KiB at a time, against 1.6 GiB/s for the
//! slicing-by-8 tables it replaces and 0.5 GiB/s for MD5.

use crc_fast::{CrcAlgorithm, Digest};

/// Continues a CRC32C over `data` (start with `0`): `crc32c_update(crc32c(a), b)` is
/// `crc32c(a ++ b)`.
pub fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    // The register before the final inversion is the inverted CRC (CRC-32/ISCSI is
    // CRC32C: initial value and final XOR all ones).
    let mut digest = Digest::new_with_init_state(CrcAlgorithm::Crc32Iscsi, u64::from(!crc));
    digest.update(data);
    digest.finalize() as u32
}

/// The CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(data)
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

    /// The CRC one bit at a time, as the polynomial defines it.
    fn bitwise(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn the_accelerated_crc_equals_the_definition_for_any_length_and_chunking() {
        let data: Vec<u8> = (0..300_007u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for len in [0, 1, 15, 16, 63, 64, 255, 256, 4095, 4096, 65_537, data.len()] {
            assert_eq!(crc32c(&data[..len]), bitwise(&data[..len]), "length {len}");
        }
        let want = bitwise(&data);
        for chunk in [1, 7, 64, 1000, 16 * 1024, 65_536] {
            let got = data[..].chunks(chunk).fold(0, crc32c_update);
            assert_eq!(got, want, "chunks of {chunk}");
        }
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
