//! Paths that cross into a ZIP archive (`.../output.zip/logs/run.log`) in `cat`, `cp`
//! (remote -> local, `-` and another object) and `cp -r` (a folder inside an archive), and `zip ls` /
//! `zip range`, on every backend, with an archive made by Info-ZIP's `zip`: the member's
//! bytes, atomic writes with nothing left behind, folders and moves refused, a real
//! object with the exact key winning, and a range other tools can fetch and inflate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{REMOTES, World, bucket, read_tree};

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("{program} could not be run ({e}); these tests need Info-ZIP's zip and python3 installed")
    });
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn run_log() -> Vec<u8> {
    b"INFO step done\n".repeat(400)
}

/// `output.zip` (Info-ZIP `zip -r`: folder entries, deflate) and `hostile.zip` (zipfile:
/// a `../` name) in the world's directory.
fn make_archives(w: &World) {
    let src = w.path("src");
    std::fs::create_dir_all(src.join("logs/deep")).unwrap();
    std::fs::write(src.join("stdout.txt"), b"hello from the run\n").unwrap();
    std::fs::write(src.join("logs/run.log"), run_log()).unwrap();
    std::fs::write(src.join("logs/deep/err.txt"), b"no errors\n").unwrap();
    std::fs::write(src.join("with space.txt"), b"spaced").unwrap();
    run(&src, "zip", &["-q", "-r", "../output.zip", "stdout.txt", "logs", "with space.txt"]);
    let py = "import zipfile\nwith zipfile.ZipFile('hostile.zip','w') as z:\n    \
              z.writestr('bad/ok.txt', 'fine')\n    z.writestr('bad/../../evil.txt', 'evil')";
    run(w.dir.path(), "python3", &["-c", py]);
    // `corrupt.zip`: one stored member with a byte of its data flipped after zipping.
    let py = "import zipfile\nwith zipfile.ZipFile('corrupt.zip','w') as z:\n    z.writestr('data.txt', 'A' * 5000)\n\
              b = bytearray(open('corrupt.zip','rb').read())\ni = b.index(b'A' * 5000) + 2500\nb[i] = ord('B')\n\
              open('corrupt.zip','wb').write(bytes(b))";
    run(w.dir.path(), "python3", &["-c", py]);
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn paths_into_archives_on_every_backend() {
    let w = World::new();
    make_archives(&w);
    for remote in REMOTES {
        let root = format!("{remote}://{}", bucket(&format!("arch-{remote}")));
        let zip = format!("{root}/runs/1/output.zip");
        w.ok(&["cp", "--create-container", &w.p("output.zip"), &zip]);

        // cat: a member, whole; folders, ranges and missing members refused.
        assert_eq!(w.ok(&["cat", &format!("{zip}/stdout.txt")]), "hello from the run\n", "{remote}");
        assert_eq!(w.ok(&["cat", &format!("{zip}/with space.txt")]), "spaced", "{remote}");
        let (_, err) = w.code(&["cat", &format!("{zip}/logs")], 2);
        assert!(err.contains("cp -r"), "{remote}: {err}");
        w.code(&["cat", "--tail", "3", &format!("{zip}/stdout.txt")], 2);
        let (_, err) = w.code(&["cat", &format!("{zip}/nope.txt")], 3);
        assert!(err.contains("nope.txt"), "{remote}: {err}");
        w.code(&["cat", &format!("{root}/runs/1/missing.zip/a.txt")], 3);

        // cp to a file, into a directory, over an existing file, to stdout.
        let down = w.path(&format!("down-{remote}"));
        std::fs::create_dir_all(&down).unwrap();
        std::fs::write(down.join("run.log"), b"old").unwrap();
        w.ok(&["cp", &format!("{zip}/logs/run.log"), &format!("{}/", down.display())]);
        assert!(std::fs::read(down.join("run.log")).unwrap() == run_log(), "{remote}");
        w.ok(&["cp", &format!("{zip}/logs/deep/err.txt"), down.join("renamed.txt").to_str().unwrap()]);
        assert_eq!(std::fs::read(down.join("renamed.txt")).unwrap(), b"no errors\n", "{remote}");
        let out = w.run(&["cp", &format!("{zip}/stdout.txt"), "-"]);
        assert_eq!(out.stdout, b"hello from the run\n", "{remote}");
        // A folder needs -r; a move would have to rewrite the archive.
        let (_, err) = w.code(&["cp", &format!("{zip}/logs/"), down.to_str().unwrap()], 2);
        assert!(err.contains("-r"), "{remote}: {err}");
        let (_, err) = w.code(&["cp", &format!("{zip}/logs"), down.join("x").to_str().unwrap()], 2);
        assert!(err.contains("cp -r"), "{remote}: {err}");
        w.code(&["mv", &format!("{zip}/stdout.txt"), down.join("moved.txt").to_str().unwrap()], 2);
        assert!(!down.join("moved.txt").exists());
        assert_eq!(read_tree(&down).keys().cloned().collect::<Vec<_>>(), ["renamed.txt", "run.log"], "{remote}");

        // cp to an object (any backend): extracted straight into it, verified before it
        // is committed; a folder, a move and the archive itself as the target refused.
        let out = w.ok(&["--json", "cp", &format!("{zip}/logs/run.log"), &format!("{root}/extracted/")]);
        assert_eq!(json_lines(&out)[0]["bytes"], run_log().len(), "{remote}: {out}");
        assert!(w.run(&["cat", &format!("{root}/extracted/run.log")]).stdout == run_log(), "{remote}");
        w.ok(&["cp", &format!("{zip}/with space.txt"), &format!("{root}/extracted/named.txt")]);
        assert_eq!(w.ok(&["cat", &format!("{root}/extracted/named.txt")]), "spaced", "{remote}");
        w.code(&["cp", &format!("{zip}/logs"), &format!("{root}/extracted/logs")], 2);
        // A member that is not there: not found, and nothing written.
        w.code(&["cp", &format!("{zip}/nope.txt"), &format!("{root}/extracted/nope.txt")], 3);
        w.code(&["cat", &format!("{root}/extracted/nope.txt")], 3);
        w.code(&["mv", &format!("{zip}/stdout.txt"), &format!("{root}/extracted/moved.txt")], 2);
        w.code(&["cat", &format!("{root}/extracted/moved.txt")], 3);
        let (_, err) = w.code(&["cp", &format!("{zip}/stdout.txt"), &zip], 2);
        assert!(err.contains("archive"), "{remote}: {err}");
        assert_eq!(
            w.ok(&["cat", &format!("{zip}/stdout.txt")]),
            "hello from the run\n",
            "{remote}: the archive is intact"
        );
        // A member whose bytes no longer match its CRC-32: the copy fails, no object.
        let corrupt = format!("{root}/runs/1/corrupt.zip");
        w.ok(&["cp", &w.p("corrupt.zip"), &corrupt]);
        let (_, err) = w.code(&["cp", &format!("{corrupt}/data.txt"), &format!("{root}/extracted/data.txt")], 1);
        assert!(err.contains("CRC"), "{remote}: {err}");
        w.code(&["cat", &format!("{root}/extracted/data.txt")], 3);

        // cp -r of a folder inside the archive: laid out relative to it, filters apply.
        let tree = w.path(&format!("tree-{remote}"));
        let out = w.ok(&["--json", "cp", "-r", &format!("{zip}/logs/"), tree.to_str().unwrap()]);
        assert_eq!(json_lines(&out)[0]["objects"], 2, "{remote}: {out}");
        let got = read_tree(&tree);
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), ["deep/err.txt", "run.log"], "{remote}");
        assert!(got["run.log"] == run_log());
        let filtered = w.path(&format!("filtered-{remote}"));
        w.ok(&["cp", "-r", "--exclude", "deep/**", &format!("{zip}/logs"), filtered.to_str().unwrap()]);
        assert_eq!(read_tree(&filtered).keys().cloned().collect::<Vec<_>>(), ["run.log"], "{remote}");
        let whole = w.path(&format!("whole-{remote}"));
        w.ok(&["cp", "-r", &format!("{zip}/"), whole.to_str().unwrap()]);
        assert_eq!(read_tree(&whole).len(), 4, "{remote}");
        w.code(&["mv", "-r", &format!("{zip}/logs/"), &w.p("nowhere")], 2);
        w.code(&["cp", "-r", &format!("{zip}/logs/"), &format!("{root}/copy/")], 2);

        // Hostile names are refused before anything is written.
        let hostile = format!("{root}/runs/1/hostile.zip");
        w.ok(&["cp", &w.p("hostile.zip"), &hostile]);
        let trap = w.path(&format!("trap-{remote}/inner"));
        w.code(&["cp", "-r", &format!("{hostile}/bad/"), trap.to_str().unwrap()], 1);
        assert!(!w.path(&format!("trap-{remote}/evil.txt")).exists());
        assert!(!w.path("evil.txt").exists());
        assert!(read_tree(&w.path(&format!("trap-{remote}"))).is_empty(), "{remote}");

        // zip ls: top level by default, --path / a URL into the archive, -r.
        let top = json_lines(&w.ok(&["--json", "zip", "ls", &zip]));
        let mut names: Vec<&str> = top.iter().map(|v| v["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["logs/", "stdout.txt", "with space.txt"], "{remote}");
        for v in &top {
            let (start, end) = (v["range_start"].as_u64().unwrap(), v["range_end"].as_u64().unwrap());
            assert_eq!(end - start, v["compressed_size"].as_u64().unwrap(), "{remote} {v}");
            assert!(v["modified"].as_str().unwrap().ends_with('Z'), "Info-ZIP writes UTC times: {v}");
        }
        let logs = json_lines(&w.ok(&["--json", "zip", "ls", "-r", "--path", "logs", &zip]));
        let mut names: Vec<&str> = logs.iter().map(|v| v["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["logs/deep/", "logs/deep/err.txt", "logs/run.log"], "{remote}");
        let via_url = json_lines(&w.ok(&["--json", "zip", "ls", "-r", &format!("{zip}/logs/")]));
        assert_eq!(via_url, logs, "{remote}");
        let text = w.ok(&["zip", "ls", &format!("{zip}/logs")]);
        assert!(text.contains("logs/run.log") && text.contains("logs/deep/"), "{remote}: {text}");
        w.code(&["zip", "ls", "--path", "nope/", &zip], 3);

        // zip range: the member's compressed bytes, fetched with cat --offset/--count and
        // inflated by Python's zlib, are the member.
        let printed = w.ok(&["zip", "range", &format!("{zip}/logs/run.log")]);
        let (start, end) = printed.trim().split_once(' ').unwrap();
        let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse().unwrap());
        assert_eq!(w.ok(&["zip", "range", &zip, "logs/run.log"]), printed, "{remote}");
        let r = json_lines(&w.ok(&["--json", "zip", "range", &zip, "logs/run.log"]));
        assert_eq!(r[0]["range_start"], start);
        assert_eq!(r[0]["http_range"], format!("bytes={start}-{}", end - 1));
        assert_eq!(r[0]["method"], "deflate");
        let raw = w.run(&["cat", "--offset", &start.to_string(), "--count", &(end - start).to_string(), &zip]).stdout;
        let raw_path = w.path(&format!("raw-{remote}.deflate"));
        std::fs::write(&raw_path, raw).unwrap();
        let inflate = "import zlib,sys; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1],'rb').read(),-15))";
        let out = Command::new("python3").args(["-c", inflate, raw_path.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success() && out.stdout == run_log(), "{remote}: the range does not inflate to the member");
        w.code(&["zip", "range", &format!("{zip}/logs/")], 3);
        w.code(&["zip", "range", &zip], 2);

        // A real object with the exact key wins (filesystem-backed stores cannot hold a
        // file and a directory of one name).
        if !["local", "s3sfs"].contains(remote) {
            std::fs::write(w.path("real.txt"), b"the real object").unwrap();
            w.ok(&["cp", &w.p("real.txt"), &format!("{zip}/stdout.txt")]);
            assert_eq!(w.ok(&["cat", &format!("{zip}/stdout.txt")]), "the real object", "{remote}");
            assert_eq!(w.ok(&["cat", &format!("{zip}/logs/deep/err.txt")]), "no errors\n", "{remote}");
        }

        // Nothing but the files asked for: no temporary files anywhere.
        for dir in [&down, &tree, &filtered, &whole] {
            assert!(read_tree(dir).keys().all(|k| !k.contains("storage-tmp")), "{remote}: {dir:?}");
        }
        w.ok(&["rb", "--force", &root]);
    }
}
