//! Downloads that extract archives (`storage_core::ops::decompress::download`): the first
//! byte picks the name (`.tar`, `.tar.gz`, `.gz`, `.zip`), the rest is the object, held
//! by a `MemoryDriver` and extracted into a fresh directory. Properties: no panic; every
//! file written lies inside the directory; a failed extraction leaves nothing behind
//! (all or nothing).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use storage_core::ops::decompress::{DecompressOptions, download};
use storage_core::zip::ZipLimits;
use storage_core::{Driver, MemoryDriver, PutOptions};
use storage_fuzz::block_on;

const NAMES: [&str; 4] = ["a.tar", "a.tar.gz", "a.gz", "a.zip"];

/// Every entry under `dir` (recursively), not following links.
fn entries_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            entries_under(&p, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static STORE: LazyLock<MemoryDriver> = LazyLock::new(MemoryDriver::new);
    static SCRATCH: LazyLock<PathBuf> = LazyLock::new(|| {
        let dir = std::env::temp_dir().join(format!("storage-fuzz-archives-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    });
    let Some((first, body)) = data.split_first() else { return };
    let name = NAMES[usize::from(*first) % NAMES.len()];
    let (store, scratch) = (&*STORE, &*SCRATCH);
    block_on(async move {
        let _ = store.create_container("c").await;
        store.put_object("c", name, body.to_vec().into(), &PutOptions::default()).await.expect("any bytes");
        let dest = scratch.join("out");
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::create_dir_all(&dest).expect("the destination");
        let limits =
            ZipLimits { max_entries: 64, max_entry_size: 1 << 20, max_total_size: 4 << 20, ..ZipLimits::default() };
        let options = DecompressOptions { limits, ..DecompressOptions::default() };
        let result = download(store, "c", name, &dest, &options).await;
        let mut found = Vec::new();
        entries_under(scratch, &mut found);
        for f in &found {
            assert!(f.starts_with(&dest), "{} was written outside {}", f.display(), dest.display());
        }
        match result {
            Ok(done) => {
                for f in &done.files {
                    assert!(f.starts_with(&dest), "{} is outside {}", f.display(), dest.display());
                }
            }
            Err(e) => assert!(found.iter().all(|f| *f == dest), "a failed download ({e}) left {found:?}"),
        }
        let _ = std::fs::remove_dir_all(&dest);
    });
});
