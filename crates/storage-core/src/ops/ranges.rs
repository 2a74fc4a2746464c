//! Range reads, single and coalesced.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{ByteRange, GetOptions};

/// Ranges closer than this are fetched with one request (as object_store does).
pub const COALESCE_GAP: u64 = 1 << 20;
const RANGE_CONCURRENCY: usize = 8;

pub(super) async fn get_range<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    range: Range<u64>,
) -> Result<Bytes> {
    if range.start == range.end {
        return Ok(Bytes::new());
    }
    let opts = GetOptions::range(ByteRange::from(range));
    driver.get_object(container, key, &opts).await?.bytes().await
}

/// Merges ranges (in any order) whose gaps are at most `gap`, returning the merged
/// ranges sorted by start. Empty ranges are dropped.
pub fn coalesce_ranges(ranges: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

pub(super) async fn get_ranges<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    ranges: &[Range<u64>],
) -> Result<Vec<Bytes>> {
    if let Some(bad) = ranges.iter().find(|r| r.end < r.start) {
        return Err(
            Error::new(ErrorKind::InvalidRange, format!("range {bad:?} is inverted")).with_object(container, key)
        );
    }
    let merged = coalesce_ranges(ranges, COALESCE_GAP);
    let fetched: Vec<(Range<u64>, Bytes)> = stream::iter(merged)
        .map(|r| async move {
            let data = get_range(driver, container, key, r.clone()).await?;
            Ok::<_, Error>((r, data))
        })
        .buffered(RANGE_CONCURRENCY)
        .try_collect()
        .await?;
    ranges
        .iter()
        .map(|r| {
            if r.start == r.end {
                return Ok(Bytes::new());
            }
            let (m, data) = fetched
                .iter()
                .find(|(m, _)| m.start <= r.start && r.end <= m.end)
                .ok_or_else(|| Error::new(ErrorKind::InvalidRange, "a range was lost while coalescing"))?;
            // Like a single range read, a range reaching past the end is clamped; one
            // starting at or past the end cannot be satisfied.
            let s = (r.start - m.start) as usize;
            let e = ((r.end - m.start) as usize).min(data.len());
            if s >= data.len() {
                return Err(Error::new(
                    ErrorKind::InvalidRange,
                    format!("range {r:?} starts past the end of the object"),
                )
                .with_object(container, key));
            }
            Ok(data.slice(s..e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_near_ranges() {
        assert_eq!(coalesce_ranges(&[5..10, 0..2, 12..14], 2), vec![0..2, 5..14]);
        assert_eq!(coalesce_ranges(&[0..2, 100..101], 2), vec![0..2, 100..101]);
        assert_eq!(coalesce_ranges(&[3..3, 4..4], 2), Vec::<Range<u64>>::new());
    }
}
