//! End to end: `cp --decompress` (archives made by tar, gzip and Python extracted on the
//! way down, hostile ones refused), `--part-size` / `--concurrency` on copies between two
//! backends, and `cp http://... remote://container/dir/` (the name from the URL or the
//! `Content-Disposition`) against an in-process HTTP server, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::{REMOTES, World, bucket, read_tree};

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn cp_decompress_extracts_on_every_backend() {
    let w = World::new();
    let big = noise(200_000);
    common::write(&w.path("src/results/a.txt"), b"alpha\n");
    common::write(&w.path("src/results/sub/b.bin"), &big);
    sh(
        w.dir.path(),
        "tar czf out.tar.gz -C src results && gzip -c src/results/a.txt > a.txt.gz \
         && (cd src && python3 -c 'import zipfile; z = zipfile.ZipFile(\"../out.zip\", \"w\", zipfile.ZIP_DEFLATED); \
             z.write(\"results/a.txt\"); z.write(\"results/sub/b.bin\"); z.close()') \
         && python3 -c 'import io, tarfile
t = tarfile.open(\"evil.tar\", \"w\")
for name in [\"ok.txt\", \"../evil.txt\"]:
    i = tarfile.TarInfo(name); i.size = 4; t.addfile(i, io.BytesIO(b\"evil\"))
t.close()'",
    );
    for remote in REMOTES {
        let base = format!("{remote}://{}-dz", bucket(remote));
        w.ok(&["mb", &base]);
        for file in ["out.tar.gz", "a.txt.gz", "out.zip", "evil.tar"] {
            w.ok(&["cp", &w.p(file), &format!("{base}/runs/{file}")]);
        }
        for archive in ["out.tar.gz", "out.zip"] {
            let dir = format!("x-{remote}-{archive}");
            let out = w.ok(&["cp", "--decompress", &format!("{base}/runs/{archive}"), &format!("{dir}/")]);
            assert!(out.contains("extracted") && out.contains("2 files"), "{remote} {archive}: {out}");
            let tree = read_tree(&w.path(&dir));
            assert_eq!(tree.len(), 2, "{remote} {archive}: {:?}", tree.keys());
            assert_eq!(tree["results/a.txt"], b"alpha\n", "{remote} {archive}");
            assert_eq!(tree["results/sub/b.bin"], big, "{remote} {archive}");
        }
        // One gzip file; JSON output lists it.
        let dir = format!("gz-{remote}");
        let out = w.ok(&["--json", "cp", "--decompress", &format!("{base}/runs/a.txt.gz"), &dir]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            (v["action"].as_str(), v["format"].as_str(), v["bytes"].as_u64()),
            (Some("extracted"), Some("gzip"), Some(6))
        );
        assert_eq!(std::fs::read(w.path(&format!("{dir}/a.txt"))).unwrap(), b"alpha\n");
        // Without --decompress: the archive as it is.
        std::fs::create_dir_all(w.path(&format!("raw-{remote}"))).unwrap();
        w.ok(&["cp", &format!("{base}/runs/out.tar.gz"), &format!("raw-{remote}/")]);
        assert_eq!(
            std::fs::read(w.path(&format!("raw-{remote}/out.tar.gz"))).unwrap(),
            std::fs::read(w.path("out.tar.gz")).unwrap()
        );
        // A hostile archive: refused, nothing written, nothing outside.
        let dir = format!("evil-{remote}/inner");
        std::fs::create_dir_all(w.path(&dir)).unwrap();
        let (_, err) = w.code(&["cp", "--decompress", &format!("{base}/runs/evil.tar"), &dir], 1);
        assert!(err.contains("InvalidObjectName") && err.contains(".."), "{remote}: {err}");
        assert!(read_tree(&w.path(&format!("evil-{remote}"))).is_empty(), "{remote}");
        assert!(std::fs::read_dir(w.path(&dir)).unwrap().next().is_none(), "{remote}: scratch left behind");
        // Usage mistakes.
        w.code(&["cp", "--decompress", &format!("{base}/runs/"), "d"], 2);
        w.code(&["cp", "--decompress", "-r", &format!("{base}/runs/out.zip"), "d"], 2);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn part_size_and_concurrency_shape_copies_between_backends() {
    let w = World::new();
    let big = noise(12 * 1024 * 1024 + 77);
    common::write(&w.path("up/big.bin"), &big);
    common::write(&w.path("up/sub/small.txt"), b"small");
    for (from, to) in [("azure", "moto"), ("local", "gcs"), ("moto", "redis")] {
        let (a, b) = (format!("{from}://{}-ps", bucket(from)), format!("{to}://{}-ps", bucket(to)));
        w.ok(&["mb", &a]);
        w.ok(&["mb", &b]);
        w.ok(&["cp", "-r", &w.p("up"), &format!("{a}/data/")]);
        // A folder, 5 MiB parts (S3's minimum), 2 in flight.
        let args =
            ["cp", "-r", "--part-size", "5MiB", "--concurrency", "2", &format!("{a}/data/"), &format!("{b}/copy/")];
        let out = w.ok(&args);
        assert!(out.contains("copied 2 files"), "{from}->{to}: {out}");
        w.ok(&["cp", "-r", &format!("{b}/copy/"), &w.p(&format!("down-{from}-{to}"))]);
        let tree = read_tree(&w.path(&format!("down-{from}-{to}")));
        assert_eq!(tree["big.bin"], big, "{from}->{to}");
        assert_eq!(tree["sub/small.txt"], b"small", "{from}->{to}");
        // One object, the same settings.
        w.ok(&["cp", "--part-size", "5M", "-j", "3", &format!("{a}/data/big.bin"), &format!("{b}/one.bin")]);
        if to == "moto" {
            // S3 shows the parts in the ETag: 12 MiB in 5 MiB parts is 3.
            for key in ["copy/big.bin", "one.bin"] {
                let stat = w.ok(&["--json", "stat", &format!("{b}/{key}")]);
                let v: serde_json::Value = serde_json::from_str(stat.trim()).unwrap();
                let etag = v["etag"].as_str().unwrap_or_default().trim_matches('"').to_owned();
                assert!(etag.ends_with("-3"), "{from}->{to} {key}: {etag}");
            }
        }
        w.ok(&["cp", &format!("{b}/one.bin"), &w.p(&format!("one-{from}-{to}.bin"))]);
        assert_eq!(std::fs::read(w.path(&format!("one-{from}-{to}.bin"))).unwrap(), big, "{from}->{to}");
        w.ok(&["rb", "--force", &a]);
        w.ok(&["rb", "--force", &b]);
    }
    let (_, err) = w.code(&["cp", "--part-size", "lots", "a", "b"], 2);
    assert!(err.contains("not a size"), "{err}");
}

/// An HTTP/1.1 server on a thread: `/runs/output%201.bin`, `/download` (with a
/// Content-Disposition name), `/files/` (no name to be had).
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
            let (status, extra, body): (&str, &str, &[u8]) = match path.as_str() {
                "/runs/output%201.bin" => ("200 OK", "", b"output one"),
                "/download" => (
                    "200 OK",
                    "content-disposition: attachment; filename=\"r.csv\"; filename*=UTF-8''r%C3%A9sultats.csv\r\n",
                    b"a,b\n",
                ),
                "/files/" => ("200 OK", "", b"a listing"),
                _ => ("404 Not Found", "", b"no"),
            };
            let head =
                format!("HTTP/1.1 {status}\r\nconnection: close\r\n{extra}content-length: {}\r\n\r\n", body.len());
            let _ = sock.write_all(head.as_bytes());
            let _ = sock.write_all(body);
        }
    });
    port
}

#[test]
fn cp_from_a_url_into_a_folder_or_a_key_on_every_backend() {
    let w = World::new();
    let port = serve();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    for remote in REMOTES {
        let base = format!("{remote}://{}-url", bucket(remote));
        w.ok(&["mb", &base]);
        let out = w.ok(&["cp", &url("/runs/output%201.bin"), &format!("{base}/in/")]);
        assert!(out.contains("in/output 1.bin"), "{remote}: {out}");
        assert_eq!(w.ok(&["cat", &format!("{base}/in/output 1.bin")]), "output one", "{remote}");
        w.ok(&["cp", &url("/download"), &format!("{base}/in/")]);
        assert_eq!(w.ok(&["cat", &format!("{base}/in/r\u{e9}sultats.csv")]), "a,b\n", "{remote}");
        // A key keeps its name; the container's root is a folder too.
        w.ok(&["cp", &url("/download"), &format!("{base}/mine.csv")]);
        w.ok(&["cp", &url("/runs/output%201.bin"), &format!("{base}/")]);
        let listing = w.ok(&["ls", "-r", &format!("{base}/")]);
        for key in ["in/output 1.bin", "in/r\u{e9}sultats.csv", "mine.csv", "output 1.bin"] {
            assert!(listing.contains(key), "{remote}: {key} in {listing}");
        }
        // No name to be had, a missing resource: refused, nothing written.
        let (_, err) = w.code(&["cp", &url("/files/"), &format!("{base}/in/")], 1);
        assert!(err.contains("InvalidObjectName"), "{remote}: {err}");
        w.code(&["cp", &url("/missing"), &format!("{base}/in/")], 3);
        assert_eq!(w.ok(&["ls", "-r", &format!("{base}/")]), listing, "{remote}");
        w.code(&["mv", &url("/download"), &format!("{base}/in/")], 2);
        w.ok(&["rb", "--force", &base]);
    }
}
