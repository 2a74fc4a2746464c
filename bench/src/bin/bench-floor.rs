//! The system-call floor of the local filesystem rows: one process, no async runtime,
//! no library, only the system calls each library's operation makes, in a loop. It says
//! how much of a local PUT or LIST is the kernel's work for the guarantees chosen, and so
//! how far any library making those calls can go.
//!
//! ```text
//! bench-floor put  --dir DIR --sequence object_store|ours|ours_fsync [--n N]
//! bench-floor list --dir DIR [--n N] [--sorted]
//! ```
//!
//! `put` overwrites `DIR/obj/NNNNNN` (200 keys, 4 KiB each) N times:
//! - `object_store` (`LocalFileSystem::put`): create `key#N` (`O_CREAT|O_EXCL`), write,
//!   fstat (its ETag), rename over the key, close.
//! - `ours` (`LocalDriver` with `fsync(false)`, Linux fast path): open the key's
//!   directory with `openat2(RESOLVE_NO_SYMLINKS)`, create the temporary file in it,
//!   `flock` it (so a sweep never takes a live writer's file), write, fstat (the stamp
//!   the metadata records), `fsetxattr` the metadata (CRC32C, ETag, content type: a
//!   120-byte record), `fstatat` the key (a symlink or directory there is refused), rename
//!   over the key, close both.
//! - `ours_fsync` (`LocalDriver` defaults): the same plus `fsync` of the file before the
//!   rename and of the directory after it.
//!
//! `list` reads `DIR` (a directory of files, as `bench-client --op setup` writes under
//! `bench/list`) N times: `getdents64` through the directory, one `fstatat` per entry
//! (what both libraries need at least: the size and time of each file), in the
//! directory's order, or with `--sorted` in key order (a listing's order).
//!
//! Prints one JSON line: wall and CPU microseconds per operation (per key for `list`).

use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use rustix::fs::{self as rfs, AtFlags, FlockOperation, Mode, OFlags, ResolveFlags, XattrFlags};
use storage_bench::Usage;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const KEYS: usize = 200;
const SIZE: usize = 4096;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().cloned().unwrap_or_default();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let dir = flag("--dir").ok_or("--dir DIR is required")?;
    let n: usize = flag("--n").map(|s| s.parse()).transpose()?.unwrap_or(20_000);
    match what.as_str() {
        "put" => {
            let sequence = flag("--sequence").ok_or("--sequence object_store|ours|ours_fsync is required")?;
            put(&dir, &sequence, n)
        }
        "list" => list(&dir, n, args.iter().any(|a| a == "--sorted")),
        other => Err(format!("unknown floor {other:?}; expected put or list").into()),
    }
}

/// Runs `op` `n` times and prints wall and CPU time per `per` units of work.
fn measure(label: &str, sequence: &str, n: usize, per: usize, mut op: impl FnMut(usize) -> Res<()>) -> Res<()> {
    let (start, before) = (Instant::now(), Usage::now());
    for i in 0..n {
        op(i)?;
    }
    let (wall, after) = (start.elapsed().as_secs_f64(), Usage::now());
    let units = (n * per) as f64;
    let cpu = (after.user_s - before.user_s) + (after.sys_s - before.sys_s);
    println!(
        "{{\"floor\":\"{label}\",\"sequence\":\"{sequence}\",\"n\":{n},\"us_per_op\":{:.3},\"cpu_us_per_op\":{:.3},\"sys_us_per_op\":{:.3}}}",
        wall / units * 1e6,
        cpu / units * 1e6,
        (after.sys_s - before.sys_s) / units * 1e6
    );
    Ok(())
}

fn put(root: &str, sequence: &str, n: usize) -> Res<()> {
    let dir = std::path::Path::new(root).join("obj");
    std::fs::create_dir_all(&dir)?;
    let data = vec![b'x'; SIZE];
    let record = vec![b'm'; 120];
    let key = |i: usize| format!("{:06}", i % KEYS);
    match sequence {
        "object_store" => measure("put", sequence, n, 1, |i| {
            let (path, temp) = (dir.join(key(i)), dir.join(format!("{}#{i}", key(i))));
            let file = rfs::open(&temp, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC, Mode::from(0o644))?;
            write_all(&file, &data)?;
            rfs::fstat(&file)?;
            rfs::rename(&temp, &path)?;
            drop(file);
            Ok(())
        }),
        "ours" | "ours_fsync" => {
            let fsync = sequence == "ours_fsync";
            measure("put", sequence, n, 1, |i| {
                let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
                let d: OwnedFd = rfs::openat2(
                    rfs::CWD,
                    &dir,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    resolve,
                )?;
                let temp = format!("%t.{i}");
                let file = rfs::openat(
                    &d,
                    &temp,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    Mode::from(0o644),
                )?;
                rfs::flock(&file, FlockOperation::NonBlockingLockExclusive)?;
                write_all(&file, &data)?;
                rfs::fstat(&file)?;
                rfs::fsetxattr(&file, "user.storage.meta", &record, XattrFlags::empty())?;
                if fsync {
                    rfs::fsync(&file)?;
                }
                let _ = rfs::statat(&d, key(i), AtFlags::SYMLINK_NOFOLLOW);
                rfs::renameat(&d, &temp, &d, key(i))?;
                drop(file);
                if fsync {
                    rfs::fsync(&d)?;
                }
                drop(d);
                Ok(())
            })
        }
        other => Err(format!("unknown --sequence {other:?}; expected object_store, ours or ours_fsync").into()),
    }
}

fn write_all(file: &OwnedFd, mut data: &[u8]) -> Res<()> {
    while !data.is_empty() {
        let n = rustix::io::write(file.as_fd(), data)?;
        data = &data[n..];
    }
    Ok(())
}

fn list(root: &str, n: usize, sorted: bool) -> Res<()> {
    let d = rfs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let count = |d: &OwnedFd| -> Res<usize> {
        rfs::seek(d, rfs::SeekFrom::Start(0))?;
        let mut buf = Vec::with_capacity(32 * 1024);
        let mut raw = rfs::RawDir::new(d, buf.spare_capacity_mut());
        let mut names = Vec::new();
        let mut files = 0;
        while let Some(entry) = raw.next() {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            if sorted {
                names.push(name.to_owned());
            } else {
                rfs::statat(d, name, AtFlags::SYMLINK_NOFOLLOW)?;
            }
            files += 1;
        }
        names.sort_unstable();
        for name in &names {
            rfs::statat(d, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(files)
    };
    let keys = count(&d)?;
    if keys == 0 {
        return Err(format!("{root} holds no files").into());
    }
    let sequence = if sorted { "getdents+sort+fstatat" } else { "getdents+fstatat" };
    measure("list", sequence, n, keys, |_| count(&d).map(|_| ()))
}
