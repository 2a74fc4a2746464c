//! Where the body of a ranged GET sits in the object, from what the server answered.

/// Where the body of a GET answer sits in the object: `(start, end, object size)`.
///
/// A 206 says it with Content-Range. So does `rclone serve s3`, but with a 200: a 200
/// whose Content-Range agrees with its Content-Length is a range too. Any other 200 is
/// the whole object (a server may ignore Range).
pub fn body_range(status: u16, range: Option<&str>, length: Option<u64>, ranged: bool) -> (u64, u64, u64) {
    match range.and_then(content_range) {
        Some((s, e, total)) if e >= s && (status == 206 || (ranged && length == Some(e - s + 1))) => (s, e + 1, total),
        _ => {
            let len = length.unwrap_or(0);
            (0, len, len)
        }
    }
}

/// Parses `bytes START-END/TOTAL`.
pub fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (s, e) = range.split_once('-')?;
    Some((s.parse().ok()?, e.parse().ok()?, total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(content_range("bytes */100"), None);
        assert_eq!(content_range("items 0-1/2"), None);
    }

    #[test]
    fn ranged_bodies_are_placed_whatever_the_status() {
        // AWS, moto, s3s-fs: 206.
        assert_eq!(body_range(206, Some("bytes 10-19/100"), Some(10), true), (10, 20, 100));
        // rclone: 200 with a Content-Range that matches the body.
        assert_eq!(body_range(200, Some("bytes 90-99/100"), Some(10), true), (90, 100, 100));
        // A server that ignores Range: the whole object.
        assert_eq!(body_range(200, None, Some(100), true), (0, 100, 100));
        assert_eq!(body_range(200, Some("bytes 10-19/100"), Some(100), true), (0, 100, 100));
        assert_eq!(body_range(200, None, Some(7), false), (0, 7, 7));
    }
}
