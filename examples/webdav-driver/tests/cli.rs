//! End to end: this crate's own `storage` binary (every built-in backend plus
//! `webdav://`) against the two WebDAV servers `cargo xtask emulators start apache-dav
//! rclone-dav` runs (`EMU_WEBDAV_APACHE_URL`, `EMU_WEBDAV_RCLONE_URL`). Skipped, with a
//! message, when they are not set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with a configuration naming both servers.
struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl World {
    fn new(apache: &str, rclone: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("storage.toml");
        let root = dir.path().join("store");
        let text = format!(
            "default = \"local\"\n[local]\nroot = \"{}\"\n[webdav]\nendpoint = \"{apache}\"\n\
             [rclonedav]\ndriver = \"webdav\"\nendpoint = \"{rclone}\"\n",
            root.display()
        );
        std::fs::write(&config, text).unwrap();
        World { dir, config }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_storage")).arg("--config").arg(&self.config).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "storage {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Every file under `root`, by relative path, with its bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Names a path on a WebDAV server can hold, awkward ones included.
fn awkward_tree(root: &Path) {
    write(&root.join("with space.txt"), b"spaced");
    write(&root.join("unicod\u{e9} \u{65e5}\u{672c}.md"), b"# unicode");
    write(&root.join("a=b&c~d.json"), b"{}");
    write(&root.join("plus+sign %25 #hash?.txt"), b"plus");
    write(&root.join("deep/er/still/file.bin"), &(0..70_000u32).map(|i| i as u8).collect::<Vec<_>>());
    write(&root.join("deep/empty.txt"), b"");
}

#[test]
fn the_vendor_binary_round_trips_an_awkward_tree_through_both_servers() {
    let (Ok(apache), Ok(rclone)) = (std::env::var("EMU_WEBDAV_APACHE_URL"), std::env::var("EMU_WEBDAV_RCLONE_URL"))
    else {
        eprintln!(
            "skipped: EMU_WEBDAV_APACHE_URL / EMU_WEBDAV_RCLONE_URL not set (cargo xtask emulators start apache-dav rclone-dav)"
        );
        return;
    };
    let w = World::new(&apache, &rclone);
    awkward_tree(&w.path("src"));
    let original = read_tree(&w.path("src"));
    let src = w.path("src");
    let src = src.to_str().unwrap();
    // `webdav://` (the scheme, configured by the [webdav] section) and a named remote.
    for remote in ["webdav", "rclonedav"] {
        let bucket = format!("cli-e2e-{}-{remote}", std::process::id());
        let base = format!("{remote}://{bucket}");
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", src, &format!("{base}/up")]);
        let listed = w.ok(&["ls", "-r", &format!("{base}/up/")]);
        assert_eq!(listed.lines().count(), original.len(), "{remote}: {listed}");
        assert!(listed.contains("up/deep/er/still/file.bin"), "{remote}: {listed}");
        assert_eq!(w.ok(&["cat", &format!("{base}/up/plus+sign %25 #hash?.txt")]), "plus", "{remote}");
        w.ok(&["check", src, &format!("{base}/up")]);
        let back = w.path(&format!("back-{remote}"));
        w.ok(&["cp", "-r", &format!("{base}/up"), back.to_str().unwrap()]);
        assert_eq!(read_tree(&back), original, "{remote}: the tree came back different");
        // A non-empty container is refused without --force, and kept.
        let refused = w.run(&["rb", &base]);
        assert_eq!(refused.status.code(), Some(1), "{remote}: rb of a non-empty container");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("ContainerIsNotEmpty"), "{remote}");
        assert_eq!(w.ok(&["cat", &format!("{base}/up/with space.txt")]), "spaced", "{remote}: nothing lost");
        w.ok(&["rb", "--force", &base]);
        let gone = w.run(&["ls", &format!("{base}/")]);
        assert_eq!(gone.status.code(), Some(3), "{remote}: the container is gone after rb --force");
    }
    // The built-in backends are all still there.
    let local = "local://cli-e2e-local";
    w.ok(&["mb", local]);
    w.ok(&["cp", &format!("{src}/with space.txt"), &format!("{local}/x.txt")]);
    assert_eq!(w.ok(&["cat", &format!("{local}/x.txt")]), "spaced");
}
