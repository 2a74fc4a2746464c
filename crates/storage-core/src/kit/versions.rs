//! Holding a versioned read to the version asked for.

use crate::error::{Error, ErrorKind, Result};

/// `Ok` unless a read asked for version `asked` and the server `answered` another (or
/// none): some servers ignore a version id they do not keep and send the live object,
/// which must not be handed on as that version. `ObjectDoesNotExist` (no such version is
/// readable there), naming both.
pub fn check_version_answered(asked: Option<&str>, answered: Option<&str>) -> Result<()> {
    match asked {
        Some(v) if answered != Some(v) => Err(Error::new(
            ErrorKind::ObjectDoesNotExist,
            format!(
                "version {v:?} was asked for and the server answered {}",
                answered.map_or("without a version".to_owned(), |a| format!("with version {a:?}"))
            ),
        )
        .with_hint("the server does not keep that version (or reads no versions at all); read without a version")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_version_asked_passes() {
        assert!(check_version_answered(None, Some("3")).is_ok());
        assert!(check_version_answered(Some("3"), Some("3")).is_ok());
        for answered in [None, Some("4"), Some("")] {
            let e = check_version_answered(Some("3"), answered).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{e}");
            assert!(e.message().contains("\"3\""), "{e}");
        }
    }
}
