//! Section `memory`: a 2 GiB file (and the same bytes as a tree of files) through our
//! engine with its default settings, to `LocalDriver` and to the S3 server; each process's
//! peak RSS is later compared with the engine's bound.

use std::path::Path;

use super::remove_quietly;
use crate::bench::client::ClientBase;
use crate::bench::plan::Plan;
use crate::bench::records::{LargeRecord, Results};
use crate::bench::server::Server;
use crate::bench::{MEMORY, MIB, TREE_FILES};

/// Section `memory`: a 2 GiB file through our engine (defaults) to `LocalDriver` and to
/// the S3 server (when `server` is given), one process per transfer.
pub(crate) fn memory(
    plan: &Plan,
    s3: &ClientBase<'_>,
    mut server: Option<&mut Server>,
    data_dir: &Path,
    res: &mut Results,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let src = data_dir.join("memory-src.bin");
    let dst = data_dir.join("memory-dst.bin");
    let local_root = data_dir.join("memory-local");
    let tree_dir = data_dir.join("memory-tree");
    let tree_s = tree_dir.display().to_string();
    let tree_keys: Vec<String> = (0..TREE_FILES).map(|i| format!("memory/tree/f{i}.bin")).collect();
    let tree_keys = tree_keys.join(",");
    let (src_s, dst_s) = (src.display().to_string(), dst.display().to_string());
    let root_s = local_root.display().to_string();
    let size = plan.memory_bytes.to_string();
    let local = ClientBase {
        bin: s3.bin,
        common: vec!["--backend".into(), "local".into(), "--root".into(), root_s, "--bucket".into(), "bench".into()],
        pinning: s3.pinning,
        tag: "",
    };
    let result = (|| -> Result<(), String> {
        eprintln!("xtask: bench: memory: writing {} MiB of noise to {src_s}", plan.memory_bytes / MIB);
        s3.run_json(&["--op", "make-file", "--file", &src_s, "--size", &size])?;
        std::fs::create_dir_all(&tree_dir).map_err(|e| format!("creating {tree_s}: {e}"))?;
        let piece = (plan.memory_bytes / TREE_FILES).to_string();
        for i in 0..TREE_FILES {
            let f = tree_dir.join(format!("f{i}.bin")).display().to_string();
            s3.run_json(&["--op", "make-file", "--file", &f, "--size", &piece])?;
        }
        for backend in ["local", "s3"] {
            if backend == "s3" && server.is_none() {
                continue;
            }
            let base = if backend == "local" { &local } else { s3 };
            for &(b, op, mode) in MEMORY {
                if b != backend {
                    continue;
                }
                eprintln!("xtask: bench: memory: {backend} {op} {mode}");
                let mut args = vec!["--op", op, "--client", "ours", "--mode", mode, "--engine-defaults"];
                match (op, mode) {
                    ("put", "tree") => args.extend(["--file", &tree_s, "--key", "memory/tree"]),
                    ("put", _) => args.extend(["--file", &src_s, "--key", "memory/2g"]),
                    _ => args.extend(["--file", &dst_s, "--key", "memory/2g", "--verify-against", &src_s]),
                }
                match base.run_json(&args).and_then(LargeRecord::from_lines) {
                    Ok(r) => res.memory.push(r),
                    Err(e) => crashes.push(format!("memory {backend} {op} {mode}: {e}")),
                }
                remove_quietly(&dst);
                if let Some(s) = server.as_deref_mut() {
                    s.check()?;
                }
            }
            if let Err(e) = base.run_json(&["--op", "delete", "--keys", &tree_keys]) {
                crashes.push(format!("memory {backend}: deleting the tree: {e}"));
            }
            if let Err(e) = base.run_json(&["--op", "delete", "--keys", "memory/2g"]) {
                crashes.push(format!("memory {backend}: deleting the object: {e}"));
            }
            if backend == "local" {
                let _ = std::fs::remove_dir_all(&local_root);
            }
        }
        Ok(())
    })();
    remove_quietly(&src);
    remove_quietly(&dst);
    let _ = std::fs::remove_dir_all(&local_root);
    let _ = std::fs::remove_dir_all(&tree_dir);
    result
}
