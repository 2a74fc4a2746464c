//! End-to-end: usage and result folders as people look at them. `listdir` (its table,
//! orders, cut, JSON, the backend's root), `du` of a prefix and of a whole backend,
//! `rm -r` and `mv -r` with and without `--include` / `--exclude`, `cp -r` filters, and
//! `ls` without a URL, each on the local driver and the servers `cargo xtask test`
//! starts, with exact outputs and the remote state checked afterwards.
//!
//! Each test writes its own configuration with a Redis namespace of its own, so the
//! Redis and local backends hold only what the test put there and their whole-backend
//! listings can be asserted exactly; the shared S3, Azure and GCS servers hold other
//! tests' containers too, so there only this test's rows are checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{REMOTES, World, bucket, read_tree, write};

/// Backends whose whole content belongs to one test (see the module docs).
const PRIVATE: &[&str] = &["local", "redis", "cluster"];

/// A world whose Redis namespace is this test's alone.
fn world(test: &str) -> World {
    let w = World::new();
    let namespace = format!("usage-{test}-{}", std::process::id());
    std::fs::write(&w.config, storage_testkit::backends_toml(&w.path("store"), &namespace)).unwrap();
    w
}

/// The world with another default backend.
fn with_default(w: &World, remote: &str) {
    let text = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(&w.config, text.replacen("default = \"local\"", &format!("default = \"{remote}\""), 1)).unwrap();
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))).collect()
}

/// An RFC 3339 UTC time as the tables show it (`2026-12-03 10:15:02`).
fn shown(rfc3339: &serde_json::Value) -> String {
    let t = rfc3339.as_str().unwrap();
    assert!(t.ends_with("+00:00"), "not UTC: {t}");
    t[..19].replace('T', " ")
}

/// Keys under a URL (`ls -r`), sorted.
fn keys(w: &World, url: &str) -> Vec<String> {
    let mut k: Vec<String> = w.ok(&["ls", "-r", url]).lines().map(str::to_owned).collect();
    k.sort();
    k
}

/// The result folder of a run: 5.68 MiB, a log, a file at the top, a nested folder.
const BIG: usize = 5_955_912;

fn results_tree(w: &World) {
    let big: Vec<u8> = (0..BIG as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    write(&w.path("results/run1/big.bin"), &big);
    write(&w.path("results/run1/log.txt"), &[b'l'; 100]);
    write(&w.path("results/a.txt"), b"abc");
    write(&w.path("results/z/deep/x.bin"), &[7u8; 2048]);
}

#[test]
fn listdir_prints_a_table_orders_cuts_and_stays_machine_readable() {
    let w = world("listdir");
    results_tree(&w);
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("ld-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", &w.p("results"), &format!("{base}/out")]);
        let url = format!("{base}/out");

        let json = json_lines(&w.ok(&["--json", "listdir", &url]));
        let got: Vec<(String, String, u64, u64)> = json
            .iter()
            .map(|v| {
                let (name, kind) = (v["name"].as_str().unwrap().to_owned(), v["type"].as_str().unwrap().to_owned());
                (name, kind, v["bytes"].as_u64().unwrap(), v["objects"].as_u64().unwrap())
            })
            .collect();
        let want = [("a.txt", "object", 3, 1), ("run1/", "folder", BIG as u64 + 100, 2), ("z/", "folder", 2048, 1)]
            .map(|(n, k, b, o)| (n.to_owned(), k.to_owned(), b, o));
        assert_eq!(got, want, "{remote}: listdir --json");
        assert_eq!(json[1]["key"], "out/run1/", "{remote}");
        assert_eq!(json[1]["container"], bucket(&format!("ld-{remote}")), "{remote}");
        let t: Vec<String> = json.iter().map(|v| shown(&v["last_modified"])).collect();

        // The table: a header row, names, sizes in binary units with two decimals, UTC times.
        let table = w.ok(&["listdir", &url]);
        let expected = format!(
            "NAME       SIZE  MODIFIED (UTC)\n\
             a.txt       3 B  {}\n\
             run1/  5.68 MiB  {}\n\
             z/     2.00 KiB  {}\n",
            t[0], t[1], t[2]
        );
        assert_eq!(table, expected, "{remote}: listdir table");
        // The same with a trailing slash.
        assert_eq!(w.ok(&["listdir", &format!("{url}/")]), expected, "{remote}");

        let order = |args: &[&str]| -> Vec<String> {
            let mut all = vec!["--json", "listdir"];
            all.extend_from_slice(args);
            all.push(&url);
            json_lines(&w.ok(&all)).iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(order(&["--order-by", "size"]), ["a.txt", "z/", "run1/"], "{remote}");
        assert_eq!(order(&["--order-by", "size", "--desc", "--max", "2"]), ["run1/", "z/"], "{remote}");
        assert_eq!(order(&["--order-by", "name", "--desc"]), ["z/", "run1/", "a.txt"], "{remote}");
        assert_eq!(order(&["--max", "1"]), ["a.txt"], "{remote}");
        assert_eq!(order(&["--max", "0"]), Vec::<String>::new(), "{remote}");

        // Without sizes, folders show `-` (and null in JSON), not 0.
        let bare = w.ok(&["listdir", "--no-sizes", &url]);
        assert_eq!(
            bare,
            format!("NAME   SIZE  MODIFIED (UTC)\na.txt   3 B  {}\nrun1/     -  -\nz/        -  -\n", t[0]),
            "{remote}"
        );
        let bare = json_lines(&w.ok(&["--json", "listdir", "--no-sizes", &url]));
        assert!(bare[1]["bytes"].is_null() && bare[1]["objects"].is_null(), "{remote}: {bare:?}");

        // An empty folder: the header alone; a missing container: not found.
        assert_eq!(w.ok(&["listdir", &format!("{base}/nothing")]), "NAME  SIZE  MODIFIED (UTC)\n", "{remote}");
        w.code(&["listdir", &format!("{remote}://no-such-container-{}", std::process::id())], 3);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn listdir_orders_by_time_newest_first() {
    let w = world("ldtime");
    write(&w.path("old.txt"), b"old");
    write(&w.path("new/x.txt"), b"newer");
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("ldt-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", &w.p("old.txt"), &format!("{base}/r/old.txt")]);
    }
    // Some servers keep whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("ldt-{remote}")));
        w.ok(&["cp", &w.p("new/x.txt"), &format!("{base}/r/new/x.txt")]);
        let names = |args: &[&str]| -> Vec<String> {
            let mut all = vec!["--json", "listdir", "--order-by", "time"];
            all.extend_from_slice(args);
            let url = format!("{base}/r");
            all.push(&url);
            json_lines(&w.ok(&all)).iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(names(&[]), ["old.txt", "new/"], "{remote}: oldest first");
        assert_eq!(names(&["--desc"]), ["new/", "old.txt"], "{remote}: newest first");
        assert_eq!(names(&["--desc", "--max", "1"]), ["new/"], "{remote}");
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn listdir_and_du_of_a_backend_list_its_containers() {
    let w = world("root");
    for remote in REMOTES {
        let (full, empty) = (bucket(&format!("root-{remote}")), bucket(&format!("root0-{remote}")));
        w.ok(&["mb", &format!("{remote}://{full}")]);
        w.ok(&["mb", &format!("{remote}://{empty}")]);
        write(&w.path("f.bin"), &[1u8; 1536]);
        w.ok(&["cp", &w.p("f.bin"), &format!("{remote}://{full}/d/f.bin")]);
        w.ok(&["cp", &w.p("f.bin"), &format!("{remote}://{full}/g.bin")]);
        let root = format!("{remote}://");

        // listdir of the root: containers, sized.
        let rows = json_lines(&w.ok(&["--json", "listdir", &root]));
        let ours: BTreeMap<String, (u64, u64)> = rows
            .iter()
            .filter(|v| v["type"] == "container")
            .map(|v| {
                (v["key"].as_str().unwrap().to_owned(), (v["bytes"].as_u64().unwrap(), v["objects"].as_u64().unwrap()))
            })
            .filter(|(k, _)| *k == full || *k == empty)
            .collect();
        assert_eq!(ours, BTreeMap::from([(full.clone(), (3072, 2)), (empty.clone(), (0, 0))]), "{remote}");
        assert!(rows.iter().all(|v| v["type"] == "container"), "{remote}: {rows:?}");
        let newest =
            json_lines(&w.ok(&["--json", "stat", &format!("{remote}://{full}/g.bin")]))[0]["last_modified"].clone();
        if PRIVATE.contains(remote) {
            // Nothing else is there: the exact table, and the containers bare.
            let (first, second) = if full < empty { (&full, &empty) } else { (&empty, &full) };
            let size_of = |c: &String| if *c == full { "3.00 KiB" } else { "0 B" };
            let time_of = |c: &String| if *c == full { shown(&newest) } else { "-".to_owned() };
            let name_w = full.len().max(empty.len()) + 1;
            let line = |c: &String| format!("{:<name_w$}  {:>8}  {}\n", format!("{c}/"), size_of(c), time_of(c));
            let want = format!("{:<name_w$}  {:>8}  MODIFIED (UTC)\n{}{}", "NAME", "SIZE", line(first), line(second));
            assert_eq!(w.ok(&["listdir", &root]), want, "{remote}: listdir of the root");
            let bare = w.ok(&["listdir", "--no-sizes", &root]);
            let want = format!(
                "{:<name_w$}  SIZE  MODIFIED (UTC)\n{:<name_w$}     -  -\n{:<name_w$}     -  -\n",
                "NAME",
                format!("{first}/"),
                format!("{second}/")
            );
            assert_eq!(bare, want, "{remote}: listdir --no-sizes of the root");
            // du of the whole backend: every container, then the total.
            let (a, b) = (format!("{root}{first}"), format!("{root}{second}"));
            let bytes = |c: &String| if *c == full { 3072 } else { 0 };
            let want = format!(
                "{:>12}  {a}\n{:>12}  {b}\n        3072  {root} (2 objects in 2 containers)\n",
                bytes(first),
                bytes(second)
            );
            assert_eq!(w.ok(&["du", &root]), want, "{remote}: du of the backend");
            assert_eq!(w.ok(&["du", "-s", "-h", &root]), format!("     3.0 KiB  {root} (2 objects in 2 containers)\n"));
        } else {
            let rows = json_lines(&w.ok(&["--json", "du", &root]));
            let row = rows.iter().find(|v| v["container"] == full.as_str()).unwrap_or_else(|| panic!("{rows:?}"));
            assert_eq!((row["bytes"].as_u64(), row["objects"].as_u64()), (Some(3072), Some(2)), "{remote}");
            assert_eq!(row["path"], format!("{root}{full}"), "{remote}");
            let total = rows.last().unwrap();
            assert_eq!(total["total"], true, "{remote}");
            assert!(total["bytes"].as_u64().unwrap() >= 3072, "{remote}: {total}");
            let table = w.ok(&["listdir", "--no-sizes", &root]);
            assert!(table.starts_with("NAME "), "{remote}: {table}");
            assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [&format!("{full}/"), "-", "-"]));
        }
        w.ok(&["rb", "--force", &format!("{remote}://{full}")]);
        w.ok(&["rb", &format!("{remote}://{empty}")]);
    }
}

#[test]
fn du_of_a_prefix_lists_its_level_and_total() {
    let w = world("du");
    results_tree(&w);
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("du-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", &w.p("results"), &format!("{base}/out")]);
        write(&w.path("sibling.txt"), b"not counted");
        w.ok(&["cp", &w.p("sibling.txt"), &format!("{base}/out-old/s.txt")]);
        let url = format!("{base}/out");
        let total = BIG as u64 + 100 + 3 + 2048;
        assert_eq!(
            w.ok(&["du", &url]),
            format!(
                "           3  out/a.txt\n{:>12}  out/run1/\n        2048  out/z/\n{total:>12}  {url} (4 objects)\n",
                BIG + 100
            ),
            "{remote}"
        );
        assert_eq!(
            w.ok(&["du", "-s", "-h", &format!("{base}/out/run1")]),
            format!("     5.7 MiB  {base}/out/run1 (2 objects)\n")
        );
        let json = json_lines(&w.ok(&["--json", "du", "-s", &base]));
        assert_eq!(json[0]["bytes"], total + 11, "{remote}: the container");
        assert_eq!(json[0]["objects"], 5, "{remote}");
        w.code(&["du", &format!("{remote}://no-such-container-{}", std::process::id())], 3);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn rm_r_deletes_only_what_the_prefix_and_filters_select() {
    let w = world("rm");
    results_tree(&w);
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("rm-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", &w.p("results"), &format!("{base}/out")]);
        w.ok(&["cp", &w.p("results/a.txt"), &format!("{base}/out-keep/a.txt")]);
        let all = keys(&w, &format!("{base}/"));
        assert_eq!(all, ["out-keep/a.txt", "out/a.txt", "out/run1/big.bin", "out/run1/log.txt", "out/z/deep/x.bin"]);

        // A prefix is a folder: `out` never touches `out-keep/`; `ou` matches nothing.
        let (_, err) = w.code(&["rm", "-r", &format!("{base}/ou")], 3);
        assert!(err.contains("nothing is stored under"), "{remote}: {err}");
        // An object named without a trailing slash: refused, kept.
        w.code(&["rm", "-r", &format!("{base}/out/a.txt")], 2);
        assert_eq!(keys(&w, &format!("{base}/")), all, "{remote}: a refused rm -r deleted something");

        // --exclude keeps what it names; --include takes only what it names.
        assert_eq!(
            w.ok(&["rm", "-r", "--exclude", "*.txt", &format!("{base}/out")]),
            format!("deleted 2 objects under {base}/out (2 left out by the filters)\n"),
            "{remote}"
        );
        assert_eq!(keys(&w, &format!("{base}/")), ["out-keep/a.txt", "out/a.txt", "out/run1/log.txt"], "{remote}");
        let json = json_lines(&w.ok(&["--json", "rm", "-r", "--include", "run1/**", &format!("{base}/out/")]));
        assert_eq!(json[0], serde_json::json!({"deleted": 1, "bytes": 100, "filtered": 1, "failed": 0}), "{remote}");
        assert_eq!(keys(&w, &format!("{base}/")), ["out-keep/a.txt", "out/a.txt"], "{remote}");
        // Filters that select nothing under a non-empty prefix delete nothing, and say so
        // (never "nothing is stored there").
        let out = w.ok(&["rm", "-r", "--include", "*.nothing", &format!("{base}/out")]);
        assert_eq!(out, format!("deleted 0 objects under {base}/out (1 left out by the filters)\n"), "{remote}");
        assert_eq!(keys(&w, &format!("{base}/")), ["out-keep/a.txt", "out/a.txt"], "{remote}");
        // No container: refused, whatever the backend holds.
        w.code(&["rm", "-r", &format!("{remote}://")], 2);
        // --include/--exclude without -r: refused.
        w.code(&["rm", "--exclude", "*.txt", &format!("{base}/out/a.txt")], 2);
        // The whole container.
        assert_eq!(w.ok(&["rm", "-r", &base]), format!("deleted 2 objects under {base}\n"), "{remote}");
        assert_eq!(w.ok(&["ls", "-r", &format!("{base}/")]), "", "{remote}");
        w.ok(&["rb", &base]);
    }
}

#[test]
fn mv_r_moves_every_byte_and_leaves_nothing_behind() {
    let w = world("mv");
    results_tree(&w);
    let original = read_tree(&w.path("results"));
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("mv-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", &w.p("results"), &format!("{base}/src")]);
        w.ok(&["cp", &w.p("results/a.txt"), &format!("{base}/src-sibling/a.txt")]);

        // Within the backend.
        let out = w.ok(&["mv", "-r", &format!("{base}/src"), &format!("{base}/dst")]);
        let moved = BIG + 100 + 3 + 2048;
        assert_eq!(out, format!("moved 4 files ({moved} bytes) from {base}/src/ to {base}/dst/\n"), "{remote}");
        assert_eq!(keys(&w, &format!("{base}/src/")), Vec::<String>::new(), "{remote}: the source is empty");
        assert_eq!(keys(&w, &format!("{base}/src-sibling/")), ["src-sibling/a.txt"], "{remote}: a sibling moved");
        let back = w.path(&format!("back-{remote}"));
        w.ok(&["cp", "-r", &format!("{base}/dst"), back.to_str().unwrap()]);
        assert_eq!(read_tree(&back), original, "{remote}: the moved tree differs");

        // To another backend, leaving the excluded files at the source.
        let other = if *remote == "local" { "moto" } else { "local" };
        let there = format!("{other}://{}", bucket(&format!("mvx-{remote}")));
        w.ok(&[
            "mv",
            "-r",
            "--create-container",
            "--exclude",
            "*.txt",
            &format!("{base}/dst"),
            &format!("{there}/got"),
        ]);
        assert_eq!(keys(&w, &format!("{there}/")), ["got/run1/big.bin", "got/z/deep/x.bin"], "{remote} -> {other}");
        assert_eq!(
            keys(&w, &format!("{base}/dst/")),
            ["dst/a.txt", "dst/run1/log.txt"],
            "{remote}: excluded files stay"
        );
        let back = w.path(&format!("backx-{remote}"));
        w.ok(&["cp", "-r", &format!("{there}/got"), back.to_str().unwrap()]);
        assert_eq!(std::fs::read(back.join("run1/big.bin")).unwrap(), original["run1/big.bin"], "{remote}");
        assert_eq!(std::fs::read(back.join("z/deep/x.bin")).unwrap(), original["z/deep/x.bin"], "{remote}");

        // --include, back to this backend.
        w.ok(&["mv", "-r", "--include", "z/**", &format!("{there}/got"), &format!("{base}/again")]);
        assert_eq!(keys(&w, &format!("{there}/")), ["got/run1/big.bin"], "{remote}");
        assert_eq!(keys(&w, &format!("{base}/again/")), ["again/z/deep/x.bin"], "{remote}");

        // Into itself or its own sub-folder: refused, nothing moved.
        w.code(&["mv", "-r", &format!("{base}/dst"), &format!("{base}/dst/sub")], 2);
        w.code(&["mv", "-r", &format!("{base}/dst/"), &format!("{base}/dst")], 2);
        assert_eq!(keys(&w, &format!("{base}/dst/")), ["dst/a.txt", "dst/run1/log.txt"], "{remote}");
        w.ok(&["rb", "--force", &base]);
        w.ok(&["rb", "--force", &there]);
    }
}

#[test]
fn cp_r_include_and_exclude_select_files_both_ways() {
    let w = world("filters");
    results_tree(&w);
    write(&w.path("results/run1/tmp/scratch.txt"), b"scratch");
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("flt-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", "--include", "*.txt", "--exclude", "tmp/", &w.p("results"), &format!("{base}/up")]);
        assert_eq!(keys(&w, &format!("{base}/")), ["up/a.txt", "up/run1/log.txt"], "{remote}: upload filters");
        w.ok(&["cp", "-r", &w.p("results"), &format!("{base}/all")]);
        let down = w.path(&format!("down-{remote}"));
        w.ok(&["cp", "-r", "--exclude", "run1/**", &format!("{base}/all"), down.to_str().unwrap()]);
        let got: Vec<String> = read_tree(&down).into_keys().collect();
        assert_eq!(got, ["a.txt", "z/deep/x.bin"], "{remote}: download filters");
        // Remote to remote, within the backend.
        w.ok(&["cp", "-r", "--include", "**/*.bin", &format!("{base}/all"), &format!("{base}/bins")]);
        assert_eq!(keys(&w, &format!("{base}/bins/")), ["bins/run1/big.bin", "bins/z/deep/x.bin"], "{remote}");
        // Filters without -r: refused.
        w.code(&["cp", "--include", "*.txt", &w.p("results/a.txt"), &format!("{base}/x.txt")], 2);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn ls_without_a_url_lists_the_default_backends_containers() {
    // Exactly, where the backend is this test's alone; else our containers are among them.
    let w = world("ls");
    // A fresh local root that does not exist yet holds no containers.
    assert_eq!(w.ok(&["ls"]), "", "an empty default backend");
    for remote in ["local", "moto", "redis", "cluster", "azure", "gcs", "s3sfs"] {
        let w = world(&format!("ls{remote}"));
        with_default(&w, remote);
        let (a, b) = (bucket(&format!("lsa-{remote}")), bucket(&format!("lsb-{remote}")));
        w.ok(&["mb", &format!("{remote}://{a}")]);
        w.ok(&["mb", &format!("{remote}://{b}")]);
        let listed = w.ok(&["ls"]);
        if PRIVATE.contains(&remote) {
            assert_eq!(listed, format!("{a}\n{b}\n"), "{remote}");
        } else {
            let names: Vec<&str> = listed.lines().collect();
            assert!(names.contains(&a.as_str()) && names.contains(&b.as_str()), "{remote}: {listed}");
        }
        // The same as `ls scheme://`, and as JSON.
        assert_eq!(w.ok(&["ls", &format!("{remote}://")]).lines().filter(|l| *l == a || *l == b).count(), 2);
        let json = json_lines(&w.ok(&["--json", "ls"]));
        let ours: Vec<&serde_json::Value> =
            json.iter().filter(|v| v["name"] == a.as_str() || v["name"] == b.as_str()).collect();
        assert_eq!(ours.len(), 2, "{remote}: {json:?}");
        assert!(ours.iter().all(|v| v["type"] == "container"), "{remote}");
        // The default backend is what `listdir` and `du` look at without a URL too.
        let names: Vec<String> = json_lines(&w.ok(&["--json", "listdir", "--no-sizes"]))
            .iter()
            .map(|v| v["key"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.contains(&a) && names.contains(&b), "{remote}: {names:?}");
        let du = w.ok(&["du", "-s"]);
        assert!(du.ends_with(" containers)\n") && du.contains(&format!("{remote}://")), "{remote}: {du}");
        w.ok(&["rb", &format!("{remote}://{a}")]);
        w.ok(&["rb", &format!("{remote}://{b}")]);
        if PRIVATE.contains(&remote) {
            assert_eq!(w.ok(&["ls"]), "", "{remote}: emptied");
        }
    }
}
