//! The remote ZIP reader (`storage_core::zip`) over an archive of arbitrary bytes held by
//! a `MemoryDriver`: listing, Inductiva's contents with byte ranges, extraction of each
//! member (stored and deflate, CRC and size checks) and extraction to a directory.
//! Properties: no panic; a member's range lies inside the archive; an extracted member
//! has exactly its declared size; a name `member_path` accepts is relative with plain
//! components only; nothing is ever written outside the destination directory.

#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use storage_core::zip::{self, ZipContentsOptions, ZipLimits};
use storage_core::{Driver, MemoryDriver, PutOptions};
use storage_fuzz::block_on;

/// Small limits: a member may not declare more than this, so a fuzzed size never makes
/// the target allocate gigabytes.
const MAX_ENTRY: u64 = 1 << 20;

fn limits() -> ZipLimits {
    ZipLimits { max_entry_size: MAX_ENTRY, max_total_size: 4 * MAX_ENTRY, ..ZipLimits::default() }
}

/// Every file under `dir` (recursively), not following links.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&p, out),
            _ => out.push(p),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static STORE: LazyLock<MemoryDriver> = LazyLock::new(MemoryDriver::new);
    static SCRATCH: LazyLock<PathBuf> = LazyLock::new(|| {
        let dir = std::env::temp_dir().join(format!("storage-fuzz-zip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    });
    let (store, scratch) = (&*STORE, &*SCRATCH);
    block_on(async move {
        let _ = store.create_container("c").await;
        store
            .put_object("c", "a.zip", data.to_vec().into(), &PutOptions::default())
            .await
            .expect("the memory store takes any bytes");
        let limits = limits();
        let Ok(entries) = zip::list_with(store, "c", "a.zip", &limits).await else { return };
        for entry in &entries {
            if let Ok(path) = zip::member_path(&entry.name) {
                assert!(
                    path.components().all(|c| matches!(c, Component::Normal(_))),
                    "member_path({:?}) = {path:?}",
                    entry.name
                );
            }
            let mut out = Vec::new();
            if let Ok(n) = zip::extract_with(store, "c", "a.zip", entry, &mut out, &limits).await {
                assert_eq!(n, entry.uncompressed_size, "{entry:?}");
                assert_eq!(out.len() as u64, n, "{entry:?}");
            }
        }
        let options = ZipContentsOptions { path: String::new(), recursive: true, limits };
        if let Ok(info) = zip::get_zip_contents_with(store, "c", "a.zip", &options).await {
            for f in &info.files {
                assert!(f.range_start <= f.range_end && f.range_end <= data.len() as u64, "{f:?}");
                assert_eq!(f.range_end - f.range_start, f.compressed_size, "{f:?}");
                if let Ok(range) = zip::get_file_range(store, "c", "a.zip", &f.name).await {
                    assert!(range.range_end <= data.len() as u64, "{range:?}");
                }
            }
        }
        // The whole archive into a fresh directory: every file lands inside it.
        if entries.len() <= 16 {
            let dest = scratch.join("out");
            let _ = std::fs::remove_dir_all(&dest);
            let written = zip::extract_to_dir_with(store, "c", "a.zip", "", &dest, &limits).await;
            let mut found = Vec::new();
            files_under(scratch, &mut found);
            for f in &found {
                assert!(f.starts_with(&dest), "{} was written outside {}", f.display(), dest.display());
            }
            if let Ok(paths) = written {
                for p in paths {
                    assert!(p.starts_with(&dest), "{} is outside {}", p.display(), dest.display());
                }
            }
            let _ = std::fs::remove_dir_all(&dest);
        }
    });
});
