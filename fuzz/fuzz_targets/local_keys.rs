//! The local driver's key -> path mapping (`LocalDriver::object_path`, which validates the
//! container name and the key, then encodes the key): the input is `container NUL key`.
//! Properties: no panic; an accepted key's path lies under the container's directory,
//! which lies directly under the root; every component below it is a plain name that is
//! not one of the driver's internal names (`%` + letter); and the path decodes back to
//! exactly the key (two keys never share a file).

#![no_main]

use std::path::{Component, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use storage_fuzz::split2;
use storage_local::LocalDriver;

/// Suffix of a continuation directory (a non-final piece of a long segment).
const CONTINUATION: &str = "%+";

/// Decodes one segment's encoded text (pieces joined) as the driver's listing must.
fn decode(encoded: &str) -> String {
    match encoded {
        "%" => return String::new(),
        "%2E" => return ".".to_owned(),
        _ => {}
    }
    assert!(!encoded.replace("%25", "").contains('%'), "{encoded:?} has a bare %");
    encoded.replace("%25", "%")
}

fuzz_target!(|data: &[u8]| {
    static DRIVER: LazyLock<(LocalDriver, PathBuf)> = LazyLock::new(|| {
        let root = std::env::temp_dir().join(format!("storage-fuzz-local-{}", std::process::id()));
        let driver = LocalDriver::new(&root).expect("a local driver");
        let root = driver.root().to_path_buf();
        (driver, root)
    });
    let (driver, root) = &*DRIVER;
    let (container, key) = split2(data);
    let (Ok(container), Ok(key)) = (std::str::from_utf8(container), std::str::from_utf8(key)) else { return };
    let Ok(path) = driver.object_path(container, key) else { return };
    let below = path.strip_prefix(root).unwrap_or_else(|_| panic!("{path:?} is not under the root {root:?}"));
    let mut components = below.components();
    assert_eq!(components.next(), Some(Component::Normal(container.as_ref())), "{path:?}");
    let mut segments = Vec::new();
    let mut piece = String::new();
    for c in components {
        let Component::Normal(name) = c else { panic!("{path:?} has the component {c:?}") };
        let name = name.to_str().expect("UTF-8 in, UTF-8 out");
        assert!(!name.is_empty() && !name.contains('/'), "{path:?}");
        let internal = name.starts_with('%') && name[1..].starts_with(|c: char| c.is_ascii_alphabetic());
        assert!(!internal, "{path:?}: {name:?} is an internal name");
        match name.strip_suffix(CONTINUATION) {
            Some(p) => piece.push_str(p),
            None => {
                piece.push_str(name);
                segments.push(decode(&piece));
                piece.clear();
            }
        }
    }
    assert!(piece.is_empty(), "{path:?} ends with a continuation directory");
    assert_eq!(segments.join("/"), key, "{path:?}");
});
