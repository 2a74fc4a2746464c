//! Name rules checked before any I/O: container names per backend, object keys.

use crate::error::{Error, ErrorKind, Result};

/// Which container naming rules a driver enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerNameRules {
    /// Amazon S3 bucket rules (3-63 of `a-z 0-9 . -`, no IP addresses, ...).
    S3,
    /// Google Cloud Storage bucket rules.
    Gcs,
    /// Azure Blob container rules (3-63 of `a-z 0-9 -`, no `--`).
    Azure,
    /// A portable directory name: 1-255 bytes, no `/`, `\`, NUL, no leading `.`.
    Filesystem,
    /// Anything non-empty up to 255 bytes without `/` or NUL.
    Any,
}

fn invalid(name: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidContainerName, format!("container name {name:?} is invalid: {why}"))
        .with_container(name)
}

fn looks_like_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_length(name: &str, min: usize, max: usize) -> Result<()> {
    if name.len() < min || name.len() > max {
        return Err(invalid(name, &format!("it must be {min} to {max} characters long")));
    }
    Ok(())
}

fn check_alnum_ends(name: &str) -> Result<()> {
    let first = name.bytes().next().unwrap_or(b'-');
    let last = name.bytes().last().unwrap_or(b'-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err(invalid(name, "it must start and end with a lowercase letter or a digit"));
    }
    Ok(())
}

fn check_charset(name: &str, extra: &[u8], allowed: &str) -> Result<()> {
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || (c.is_ascii() && extra.contains(&(*c as u8)))))
    {
        return Err(invalid(name, &format!("{c:?} is not allowed; use only {allowed}")));
    }
    Ok(())
}

/// Checks `name` against `rules`; the error says which rule it breaks.
pub fn container_name(name: &str, rules: ContainerNameRules) -> Result<()> {
    match rules {
        ContainerNameRules::S3 => {
            check_length(name, 3, 63)?;
            check_charset(name, b".-", "lowercase letters, digits, '.' and '-'")?;
            check_alnum_ends(name)?;
            if name.contains("..") || name.contains(".-") || name.contains("-.") {
                return Err(invalid(name, "'.' may not be next to another '.' or a '-'"));
            }
            if looks_like_ipv4(name) {
                return Err(invalid(name, "it may not look like an IP address"));
            }
            if name.starts_with("xn--") || name.starts_with("sthree-") {
                return Err(invalid(name, "the prefixes 'xn--' and 'sthree-' are reserved"));
            }
            if name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
                return Err(invalid(name, "the suffixes '-s3alias' and '--ol-s3' are reserved"));
            }
            Ok(())
        }
        ContainerNameRules::Gcs => {
            check_length(name, 3, 222)?;
            check_charset(name, b".-_", "lowercase letters, digits, '.', '-' and '_'")?;
            check_alnum_ends(name)?;
            if name.split('.').any(|c| c.is_empty() || c.len() > 63) {
                return Err(invalid(name, "each dot-separated part must be 1 to 63 characters"));
            }
            if !name.contains('.') && name.len() > 63 {
                return Err(invalid(name, "names without dots are at most 63 characters"));
            }
            if looks_like_ipv4(name) {
                return Err(invalid(name, "it may not look like an IP address"));
            }
            if name.starts_with("goog") || name.contains("google") || name.contains("g00gle") {
                return Err(invalid(name, "it may not start with 'goog' or contain 'google'"));
            }
            Ok(())
        }
        ContainerNameRules::Azure => {
            if name == "$root" || name == "$logs" || name == "$web" {
                return Ok(());
            }
            check_length(name, 3, 63)?;
            check_charset(name, b"-", "lowercase letters, digits and '-'")?;
            check_alnum_ends(name)?;
            if name.contains("--") {
                return Err(invalid(name, "'-' may not follow another '-'"));
            }
            Ok(())
        }
        ContainerNameRules::Filesystem => {
            check_length(name, 1, 255)?;
            if name.starts_with('.') {
                return Err(invalid(name, "it may not start with '.'"));
            }
            if name.contains(['/', '\\', '\0']) {
                return Err(invalid(name, "'/', '\\' and NUL are not allowed"));
            }
            Ok(())
        }
        ContainerNameRules::Any => {
            check_length(name, 1, 255)?;
            if name.contains(['/', '\0']) {
                return Err(invalid(name, "'/' and NUL are not allowed"));
            }
            Ok(())
        }
    }
}

/// Checks an object key: non-empty, at most `max_len` bytes of UTF-8, no NUL.
pub fn object_key(key: &str, max_len: usize) -> Result<()> {
    let why = if key.is_empty() {
        Some("it is empty".to_owned())
    } else if key.len() > max_len {
        Some(format!("it is {} bytes long; the limit is {max_len}", key.len()))
    } else if key.contains('\0') {
        Some("it contains a NUL character".to_owned())
    } else {
        None
    };
    match why {
        Some(why) => {
            Err(Error::new(ErrorKind::InvalidObjectName, format!("object key {key:?} is invalid: {why}")).with_key(key))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerNameRules::*;

    fn ok(n: &str, r: ContainerNameRules) -> bool {
        container_name(n, r).is_ok()
    }

    #[test]
    fn s3_rules() {
        assert!(ok("my-bucket.data", S3));
        assert!(!ok("ab", S3));
        assert!(!ok("My-Bucket", S3));
        assert!(!ok("-bucket", S3));
        assert!(!ok("a..b", S3));
        assert!(!ok("192.168.1.1", S3));
        assert!(!ok("xn--bucket", S3));
        assert!(!ok(&"a".repeat(64), S3));
        let e = container_name("Bad_Name", S3).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidContainerName);
        assert!(e.message().contains("'B'"), "{}", e.message());
    }

    #[test]
    fn gcs_and_azure_rules() {
        assert!(ok("my_bucket", Gcs));
        assert!(!ok("google-stuff", Gcs));
        assert!(!ok("goog1", Gcs));
        assert!(ok("container-1", Azure));
        assert!(!ok("a--b", Azure));
        assert!(!ok("a_b", Azure));
        assert!(ok("$root", Azure));
    }

    #[test]
    fn filesystem_rules() {
        assert!(ok("Photos 2024", Filesystem));
        assert!(!ok(".hidden", Filesystem));
        assert!(!ok("..", Filesystem));
        assert!(!ok("a/b", Filesystem));
        assert!(!ok("", Any));
    }

    #[test]
    fn keys() {
        assert!(object_key("a/b c+%?#=&~/", 1024).is_ok());
        assert!(object_key(&"x".repeat(1024), 1024).is_ok());
        assert_eq!(object_key(&"x".repeat(1025), 1024).unwrap_err().kind(), ErrorKind::InvalidObjectName);
        assert!(object_key("", 1024).is_err());
        assert!(object_key("a\0b", 1024).is_err());
    }
}
