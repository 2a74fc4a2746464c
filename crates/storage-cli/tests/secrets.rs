//! Secrets never reach the output: every command of the CLI (taken from `storage --help`,
//! so a new command cannot be skipped) runs at every verbosity (none, `-v`, `-vv`,
//! `-vvv`, `STORAGE_LOG=trace`) against servers with known secrets: moto (a secret key
//! and a session token, from the configuration and from `AWS_*` variables), s3s-fs (its
//! key, and a wrong one it refuses), Azurite (its well-known account key, and a wrong
//! one), fake-gcs (a service account key whose token endpoint is in this process and
//! hands out a known access token; a bearer token), a Redis server of its own started
//! with a password (and a wrong password), and HTTP proxies with passwords. Stdout and
//! stderr of every run are searched for each secret (the Azure key also decoded and in
//! hex) and for signatures, session tokens and bearer tokens in any form; only the stdout
//! of `presign`, whose job is to print a signed URL, may hold a signature and a session
//! token. The runs also check the logs are there (one line per HTTP request and driver
//! call at -vvv, retries at -vv), at the level asked for, and on stderr only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

use common::{World, bucket, env, write};

// ---------------------------------------------------------------------------------------
// What is searched for.

/// Whether a secret may appear in a signed URL (a session token travels in it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Never printed: keys, passwords, bearer and access tokens, private keys.
    Credential,
    /// Part of a presigned URL (`X-Amz-Security-Token`), else never printed.
    UrlToken,
}

/// One secret: what it is, and its bytes.
#[derive(Clone, Debug)]
struct Secret {
    name: String,
    bytes: Vec<u8>,
    kind: Kind,
}

fn secret(name: &str, value: impl AsRef<[u8]>) -> Secret {
    Secret { name: name.to_owned(), bytes: value.as_ref().to_vec(), kind: Kind::Credential }
}

fn url_token(name: &str, value: &str) -> Secret {
    Secret { name: name.to_owned(), bytes: value.as_bytes().to_vec(), kind: Kind::UrlToken }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A shape of credential whatever its value (searched in lower case): a marker, then at
/// least `min` characters of a value made of `allowed` characters.
struct Shape(&'static str, fn(u8) -> bool, usize);

/// The shapes searched for.
const SHAPES: &[Shape] = &[
    // SigV4: X-Amz-Signature=<hex> in a URL, Signature=<hex> in an Authorization header.
    Shape("signature=", |c| c.is_ascii_hexdigit(), 16),
    // GCS V4 signed URLs.
    Shape("x-goog-signature=", |c| c.is_ascii_hexdigit(), 16),
    // Azure SAS.
    Shape("sig=", |c| c.is_ascii_alphanumeric() || b"%+/=_-".contains(&c), 16),
    // Azure Shared Key: `SharedKey account:<base64>`.
    Shape("sharedkey ", |c| c.is_ascii_alphanumeric() || b":+/=".contains(&c), 24),
    Shape("bearer ", |c| c.is_ascii_alphanumeric() || b"._~+/=-".contains(&c), 16),
    Shape("x-amz-security-token=", |c| c.is_ascii_alphanumeric() || b"%+/=_-".contains(&c), 8),
    Shape("x-amz-security-token: ", |c| c.is_ascii_alphanumeric() || b"+/=_-".contains(&c), 8),
    Shape("authorization: ", |c| c.is_ascii_alphanumeric() || b"+/=_-".contains(&c), 8),
    Shape("authorization=", |c| c.is_ascii_alphanumeric() || b"+/=_-".contains(&c), 8),
];

/// What of `secrets` and of the credential shapes `out` holds, each named with where it
/// was found. `signed_url` is the stdout of a command that prints a signed URL: its
/// signature and session token are the output, credentials are still refused.
fn leaks(out: &[u8], secrets: &[Secret], signed_url: bool) -> Vec<String> {
    let mut found: Vec<String> = secrets
        .iter()
        .filter(|s| !(signed_url && s.kind == Kind::UrlToken) && contains(out, &s.bytes))
        .map(|s| format!("the {}", s.name))
        .collect();
    if signed_url {
        return found;
    }
    let lower = out.to_ascii_lowercase();
    for Shape(marker, allowed, min) in SHAPES {
        let m = marker.as_bytes();
        let mut from = 0;
        while let Some(at) = lower[from..].windows(m.len()).position(|w| w == m).map(|p| p + from) {
            let value = &lower[at + m.len()..];
            let len = value.iter().take_while(|c| allowed(**c)).count();
            let redacted = value.starts_with(b"redacted") || value.starts_with(b"<redacted>");
            if len >= *min && !redacted {
                let end = (at + m.len() + len).min(at + 80);
                found.push(format!("a {marker:?} value ({})", String::from_utf8_lossy(&out[at..end])));
            }
            from = at + 1;
        }
    }
    found
}

/// Standard base64 (the Azure key), for the decoded form.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_search_finds_every_leak_it_is_meant_to_find() {
    let key = storage::azure::EMULATOR_KEY;
    let secrets = [
        secret("secret key", "moto-secret/Key+ForTests"),
        url_token("session token", "FwoSessionTokenForTests"),
        secret("azure key", key),
        secret("azure key, decoded", base64_decode(key)),
    ];
    let decoded = base64_decode(key);
    assert_eq!(decoded.len(), 64, "the emulator's key is 64 bytes");
    assert_eq!(base64_decode("aHVudGVyMg=="), b"hunter2");
    let leaky: &[(&str, &[u8])] = &[
        ("error: bad key moto-secret/Key+ForTests", b"secret key"),
        ("x-amz-security-token: FwoSessionTokenForTests", b"session token"),
        (&format!("key={key}"), b"azure key"),
        (
            "authorization: AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=0123456789abcdef0123",
            b"signature=",
        ),
        ("GET http://h/b/k?X-Amz-Credential=A&X-Amz-Signature=fedcba9876543210fedc", b"signature="),
        ("https://a.blob.core.windows.net/c/b?sv=2021&sig=gWUfUJD5cnJfH6qUU4Yw6pm5e%2BMpN", b"sig="),
        ("http://h/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=0a1b2c3d4e5f60718293", b"x-goog-signature="),
        ("Authorization: SharedKey devstoreaccount1:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4", b"sharedkey "),
        ("authorization: Bearer ya29.a0AfH6SMBx-some-token", b"bearer "),
        ("?X-Amz-Security-Token=IQoJb3JpZ2luX2Vj", b"x-amz-security-token="),
    ];
    for (text, what) in leaky {
        let found = leaks(text.as_bytes(), &secrets, false);
        assert!(
            found.iter().any(|f| f.contains(std::str::from_utf8(what).unwrap())),
            "{text:?}: {found:?} misses {}",
            String::from_utf8_lossy(what)
        );
    }
    let mut binary = b"log: ".to_vec();
    binary.extend_from_slice(&decoded);
    assert_eq!(leaks(&binary, &secrets, false), ["the azure key, decoded"]);
    // What the logs do show passes: redacted URLs, header names, signature-free text.
    let clean = storage::kit::redact_url(
        "http://h/b/k?X-Amz-Credential=A&X-Amz-Security-Token=FwoSessionTokenForTests&X-Amz-Signature=fedcba9876543210fedc&sig=gWUfUJD5cnJfH6qUU4Yw6pm5e",
    );
    let fine = format!(
        "{clean}\nsending headers=host,x-amz-security-token,authorization,user-agent\nSignatureDoesNotMatch: \
         the request signature we calculated does not match\nbearer_token, sig=REDACTED"
    );
    assert_eq!(leaks(fine.as_bytes(), &secrets, false), Vec::<String>::new(), "{fine}");
    // A signed URL on presign's stdout may carry its signature and session token, never a key.
    let url = b"http://h/b/k?X-Amz-Security-Token=FwoSessionTokenForTests&X-Amz-Signature=fedcba9876543210fedc";
    assert!(leaks(url, &secrets, true).is_empty());
    assert!(!leaks(url, &secrets, false).is_empty());
    assert_eq!(leaks(b"x moto-secret/Key+ForTests", &secrets, true), ["the secret key"]);
}

// ---------------------------------------------------------------------------------------
// Verbosities and runs.

/// How verbose a run is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verbosity {
    Default,
    V1,
    V2,
    V3,
    /// `STORAGE_LOG=trace`: every crate's events, the HTTP client's included.
    Trace,
}

const EVERY_VERBOSITY: [Verbosity; 5] =
    [Verbosity::Default, Verbosity::V1, Verbosity::V2, Verbosity::V3, Verbosity::Trace];
/// The quietest and the loudest: what the smaller runs use.
const EXTREMES: [Verbosity; 2] = [Verbosity::Default, Verbosity::Trace];

impl Verbosity {
    fn flag(self) -> Option<&'static str> {
        match self {
            Verbosity::V1 => Some("-v"),
            Verbosity::V2 => Some("-vv"),
            Verbosity::V3 => Some("-vvv"),
            Verbosity::Default | Verbosity::Trace => None,
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Verbosity::Default => "q",
            Verbosity::V1 => "v1",
            Verbosity::V2 => "v2",
            Verbosity::V3 => "v3",
            Verbosity::Trace => "tr",
        }
    }
}

/// What a step's exit code must be.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Code(i32),
    /// Any failure (a refused credential, a missing container: the code depends on the
    /// server).
    Fails,
    /// Success or failure (a signed URL made with a wrong key, by a driver that may not
    /// sign).
    Any,
}

/// One invocation.
#[derive(Clone, Debug)]
struct Step {
    args: Vec<String>,
    stdin: Option<&'static [u8]>,
    expect: Expect,
    /// Its stdout is a signed URL.
    signed_url: bool,
    /// Its stdout must be exactly this.
    stdout: Option<Vec<u8>>,
}

fn step(args: &[&str], expect: Expect) -> Step {
    Step { args: args.iter().map(|s| (*s).to_owned()).collect(), stdin: None, expect, signed_url: false, stdout: None }
}

/// The command a step covers: its first word, and the subcommand of `zip`.
fn command_of(args: &[String]) -> String {
    let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    match words.as_slice() {
        [first, second, ..] if *first == "zip" => format!("zip {second}"),
        [first, ..] => (*first).clone(),
        [] => String::new(),
    }
}

/// The files the steps upload: `a.txt`, a tree, an archive.
const A_TXT: &[u8] = b"the data of a.txt\n";

fn make_inputs(w: &World) {
    write(&w.path("in/a.txt"), A_TXT);
    write(&w.path("in/tree/x.txt"), b"x");
    write(&w.path("in/tree/sub/y.txt"), b"yy");
    let py = "import zipfile\nwith zipfile.ZipFile('in/a.zip','w') as z:\n    z.writestr('m.txt', 'member')";
    let out = Command::new("python3")
        .args(["-c", py])
        .current_dir(w.dir.path())
        .output()
        .unwrap_or_else(|e| panic!("python3 could not be run ({e}); these tests need it to make a ZIP archive"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// What a backend can do beyond the portable calls.
#[derive(Clone, Copy, Debug)]
struct Can {
    /// Make signed URLs.
    sign: bool,
    /// List what interrupted uploads left behind (`cleanup`).
    clean: bool,
}

/// Every command, on a backend that accepts the credentials: `remote://container`
/// made, filled, listed, read, signed, moved, cleaned and removed, and the failures of a
/// missing object and a missing container. Where the backend cannot sign or clean up,
/// those commands fail (NotSupported), saying so without a secret.
fn working_steps(w: &World, remote: &str, container: &str, can: Can) -> Vec<Step> {
    let (signs, cleans) = (can.sign, can.clean);
    let base = format!("{remote}://{container}");
    let u = |rest: &str| format!("{base}/{rest}");
    let out = |rest: &str| w.p(&format!("out/{container}/{rest}"));
    let (a, tree, zip) = (w.p("in/a.txt"), w.p("in/tree"), w.p("in/a.zip"));
    let mut steps = vec![
        step(&["mb", &base], Expect::Code(0)),
        step(&["cp", &a, &u("dir/a.txt")], Expect::Code(0)),
        Step { stdin: Some(b"from stdin\n"), ..step(&["cp", "-", &u("stdin.txt")], Expect::Code(0)) },
        step(&["cp", "-r", &tree, &u("tree/")], Expect::Code(0)),
        step(&["sync", &tree, &u("synced/")], Expect::Code(0)),
        step(&["check", &tree, &u("synced/")], Expect::Code(0)),
        Step { stdout: Some(b"dir/a.txt\n".to_vec()), ..step(&["ls", &u("dir/")], Expect::Code(0)) },
        step(&["ls", "-l", "-r", "--json", &base], Expect::Code(0)),
        step(&["ls", &format!("{remote}://")], Expect::Code(0)),
        step(&["listdir", &u("")], Expect::Code(0)),
        step(&["du", "-s", &base], Expect::Code(0)),
        step(&["stat", "--json", &u("dir/a.txt")], Expect::Code(0)),
        Step { stdout: Some(A_TXT.to_vec()), ..step(&["cat", &u("dir/a.txt")], Expect::Code(0)) },
        step(&["cp", &u("dir/a.txt"), &format!("{}/", out(""))], Expect::Code(0)),
        step(&["cp", "-r", &u("tree/"), &out("tree")], Expect::Code(0)),
        Step {
            signed_url: true,
            ..step(&["presign", &u("dir/a.txt")], if signs { Expect::Code(0) } else { Expect::Fails })
        },
        step(&["cp", &zip, &u("a.zip")], Expect::Code(0)),
        step(&["zip", "ls", &u("a.zip")], Expect::Code(0)),
        step(&["zip", "range", &u("a.zip"), "m.txt"], Expect::Code(0)),
        Step {
            stdout: Some(b"member".to_vec()),
            ..step(&["zip", "get", &u("a.zip"), "m.txt", "-o", "-"], Expect::Code(0))
        },
        step(&["mv", &u("stdin.txt"), &u("moved.txt")], Expect::Code(0)),
        step(&["rm", &u("moved.txt")], Expect::Code(0)),
        step(&["rm", "-r", &u("tree/")], Expect::Code(0)),
        step(
            &["cleanup", "--older-than", "0", "--dry-run", &base],
            if cleans { Expect::Code(0) } else { Expect::Fails },
        ),
        step(&["cat", &u("missing.txt")], Expect::Code(3)),
        step(&["ls", &format!("{remote}://{container}-missing/")], Expect::Fails),
        step(&["rb", "--force", &base], Expect::Code(0)),
        step(&["completions", "bash"], Expect::Code(0)),
    ];
    for s in &mut steps {
        // Where the backend cannot sign, presign's stdout is empty; nothing to allow.
        s.signed_url &= signs;
    }
    steps
}

/// The commands that reach a backend whose credentials are refused (or whose password,
/// proxy or key is wrong): each fails, saying so without the secret.
fn refused_steps(w: &World, remote: &str, container: &str) -> Vec<Step> {
    let base = format!("{remote}://{container}");
    let u = |rest: &str| format!("{base}/{rest}");
    vec![
        step(&["mb", &base], Expect::Fails),
        step(&["ls", &u("")], Expect::Fails),
        step(&["cp", &w.p("in/a.txt"), &u("a.txt")], Expect::Fails),
        step(&["cat", &u("a.txt")], Expect::Fails),
        step(&["stat", &u("a.txt")], Expect::Fails),
        step(&["sync", &w.p("in/tree"), &u("t/")], Expect::Fails),
        Step { signed_url: true, ..step(&["presign", &u("a.txt")], Expect::Any) },
    ]
}

/// Commands given a signed URL (made by `presign`) as an argument: an upload from it
/// into `remote://container`, which works, and the uses the CLI refuses. The URL's
/// signature and session token must not come back in any message.
fn signed_url_steps(w: &World, url: &str, remote: &str, container: &str, works: bool) -> Vec<Step> {
    let dst = format!("{remote}://{container}/from-url.txt");
    let with_password = url.replacen("://", &format!("://urluser:{URL_PASSWORD}@"), 1);
    vec![
        step(&["cp", url, &dst], if works { Expect::Code(0) } else { Expect::Fails }),
        step(&["cp", &with_password, &dst], Expect::Any),
        step(&["cp", &with_password, &w.p("out/")], Expect::Fails),
        step(&["cp", url, &format!("{}/", w.p(&format!("out/{container}-url")))], Expect::Fails),
        step(&["cp", url, "-"], Expect::Fails),
        step(&["mv", url, &dst], Expect::Fails),
        step(&["cat", url], Expect::Fails),
        step(&["stat", url], Expect::Fails),
        step(&["ls", url], Expect::Fails),
        step(&["rm", url], Expect::Fails),
        step(&["cp", "-r", url, &format!("{remote}://{container}/r/")], Expect::Fails),
        step(&["sync", url, &format!("{remote}://{container}/s/")], Expect::Fails),
        step(&["presign", url], Expect::Fails),
        step(&["zip", "ls", url], Expect::Fails),
    ]
}

/// A password in the userinfo of a URL given to `cp`.
const URL_PASSWORD: &str = "Url-Pass-word-2718";

/// Makes `remote://container` holding `a.txt` and returns a signed URL of it.
fn presigned(w: &World, env: &[(String, String)], remote: &str, container: &str) -> String {
    let base = format!("{remote}://{container}");
    for args in [vec!["mb".to_owned(), base.clone()], vec!["cp".to_owned(), w.p("in/a.txt"), format!("{base}/a.txt")]] {
        let out = w.command(&args.iter().map(String::as_str).collect::<Vec<_>>()).envs(env.to_vec()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = w.command(&["presign", &format!("{base}/a.txt")]).envs(env.to_vec()).output().unwrap();
    assert!(out.status.success(), "presign: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Removes `remote://container` and what it holds.
fn remove(w: &World, env: &[(String, String)], remote: &str, container: &str) {
    let out = w.command(&["rb", "--force", &format!("{remote}://{container}")]).envs(env.to_vec()).output().unwrap();
    assert!(out.status.success(), "rb: {}", String::from_utf8_lossy(&out.stderr));
}

/// A run's outcome, with what it was.
struct Ran {
    what: String,
    verbosity: Verbosity,
    out: Output,
}

impl Ran {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// Runs `steps` at `verbosity` with `env` added, checking each run's exit code, its
/// stdout where given, that stdout holds no log line, and that neither stream leaks.
fn run_steps(
    w: &World,
    steps: &[Step],
    verbosity: Verbosity,
    env: &[(String, String)],
    secrets: &[Secret],
) -> Vec<Ran> {
    let mut ran = Vec::new();
    for s in steps {
        let mut args: Vec<&str> = verbosity.flag().into_iter().collect();
        args.extend(s.args.iter().map(String::as_str));
        let mut c = w.command(&args);
        for name in INHERITED {
            c.env_remove(name);
        }
        if verbosity == Verbosity::Trace {
            c.env("STORAGE_LOG", "trace");
        }
        c.envs(env.iter().map(|(k, v)| (k, v)));
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let input = child.stdin.take().unwrap();
        if let Some(data) = s.stdin {
            let mut input = input;
            input.write_all(data).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let what = format!("storage {} ({verbosity:?})", args.join(" "));
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let code = out.status.code();
        let fine = match s.expect {
            Expect::Code(c) => code == Some(c),
            Expect::Fails => code.is_some_and(|c| c != 0),
            Expect::Any => code.is_some(),
        };
        assert!(fine, "{what}: exit {code:?}, expected {:?}\nstdout: {stdout}\nstderr: {stderr}", s.expect);
        if let Some(expected) = &s.stdout {
            assert_eq!(out.stdout, *expected, "{what}: stdout carries the data only\nstderr: {stderr}");
        }
        for marker in [" TRACE ", " DEBUG ", " INFO ", " WARN ", "storage_http::", "storage_core::"] {
            assert!(!stdout.contains(marker), "{what}: a log line on stdout: {stdout}");
        }
        let found = leaks(&out.stdout, secrets, s.signed_url);
        assert!(found.is_empty(), "{what}: stdout leaks {found:?}:\n{stdout}");
        let found = leaks(&out.stderr, secrets, false);
        assert!(found.is_empty(), "{what}: stderr leaks {found:?}:\n{stderr}");
        if verbosity == Verbosity::Default && code == Some(0) {
            assert!(stderr.is_empty(), "{what}: without -v a success logs nothing: {stderr}");
        }
        ran.push(Ran { what, verbosity, out });
    }
    ran
}

/// Runs `steps` for a container of `remote` at each of `verbosities` (a container of its
/// own each) and returns every run.
fn every_verbosity(
    w: &World,
    remote: &str,
    verbosities: &[Verbosity],
    steps: impl Fn(&str) -> Vec<Step>,
    env: &[(String, String)],
    secrets: &[Secret],
) -> Vec<Ran> {
    let mut all = Vec::new();
    for v in verbosities {
        let container = bucket(&format!("sec-{remote}-{}", v.tag()));
        all.extend(run_steps(w, &steps(&container), *v, env, secrets));
    }
    all
}

/// Checks the levels: no line above the level asked for, and the lines expected at it.
/// `calls` must appear at -vvv: lines of `storage_core::layers::trace` for the driver
/// calls; `requests`, when the backend speaks HTTP, the HTTP client's answer lines.
fn check_levels(runs: &[Ran], http: bool) {
    for r in runs {
        let err = r.stderr();
        let levels: &[&str] = match r.verbosity {
            Verbosity::Default => &[" WARN ", " INFO ", " DEBUG ", " TRACE "],
            Verbosity::V1 => &[" INFO ", " DEBUG ", " TRACE "],
            Verbosity::V2 => &[" DEBUG ", " TRACE "],
            Verbosity::V3 => &[" TRACE "],
            Verbosity::Trace => &[],
        };
        for level in levels {
            assert!(!err.contains(level), "{}: a{level}line: {err}", r.what);
        }
    }
    for verbosity in [Verbosity::V3, Verbosity::Trace] {
        let lines: Vec<String> = runs
            .iter()
            .filter(|r| r.verbosity == verbosity)
            .flat_map(|r| r.stderr().lines().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        if lines.is_empty() && !runs.iter().any(|r| r.verbosity == verbosity) {
            continue;
        }
        let call = lines.iter().any(|l| {
            l.contains("storage_core::layers::trace: storage call succeeded")
                && l.contains("operation=\"put_object\"")
                && l.contains("duration_ms=")
        });
        assert!(call, "{verbosity:?}: no line for a put_object call:\n{}", lines.join("\n"));
        if http {
            let request = lines.iter().any(|l| {
                l.contains("storage_http::client: answer")
                    && (l.contains("method=PUT") || l.contains("method=POST"))
                    && l.contains("url=http://127.0.0.1:")
                    && l.contains("status=20")
                    && l.contains(" ms=")
            });
            assert!(request, "{verbosity:?}: no line for an upload's HTTP request:\n{}", lines.join("\n"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The servers' secrets.

/// A configuration of its own for the world (replacing the common one).
fn configure(w: &World, text: &str) {
    std::fs::write(&w.config, text).unwrap();
}

/// Variables of the test's own environment no run inherits: log filters, proxies,
/// credentials (each test gives those it means).
const INHERITED: &[&str] = &[
    "STORAGE_LOG",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "no_proxy",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// The environment of every run: no AWS files of the machine.
fn base_env(w: &World) -> Vec<(String, String)> {
    let none = w.p("no-such-file");
    vec![("AWS_CONFIG_FILE".to_owned(), none.clone()), ("AWS_SHARED_CREDENTIALS_FILE".to_owned(), none)]
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn every_command_the_help_lists_is_covered() {
    fn commands(help: &str) -> Vec<String> {
        help.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .filter(|c| c != "help")
            .collect()
    }
    let w = World::new();
    let mut listed = BTreeSet::new();
    for command in commands(&w.ok(&["--help"])) {
        let sub = w.ok(&[&command, "--help"]);
        let nested = commands(&sub);
        if nested.is_empty() {
            listed.insert(command);
        } else {
            listed.extend(nested.into_iter().map(|n| format!("{command} {n}")));
        }
    }
    assert!(listed.len() > 10 && listed.contains("presign") && listed.contains("zip get"), "{listed:?}");
    let covered: BTreeSet<String> =
        working_steps(&w, "moto", "c", Can { sign: true, clean: true }).iter().map(|s| command_of(&s.args)).collect();
    let missing: Vec<&String> = listed.difference(&covered).collect();
    assert!(missing.is_empty(), "commands no step of tests/secrets.rs runs: {missing:?}; add them to working_steps");
}

#[test]
fn moto_every_command_at_every_verbosity_with_keys_and_session_tokens() {
    let w = World::new();
    make_inputs(&w);
    let endpoint = env("EMU_S3_MOTO_ENDPOINT");
    // moto takes any keys: these are the test's own, so a search cannot match by chance.
    let (key, token) = ("moto/Secret+Key-0f9e8d7c6b5a", "FwoGZXIvYXdzEBoaDSessionToken0a1b2c3d");
    let (env_key, env_token) = ("envSecret/Key+from-the-environment-77", "IQoJb3JpZ2luX2VjEnvSessionToken99");
    configure(
        &w,
        &format!(
            "[moto]\ndriver = \"s3\"\nendpoint = \"{endpoint}\"\naccess_key_id = \"AKIAMOTOSECRETS\"\n\
             secret_access_key = \"{key}\"\nsession_token = \"{token}\"\n\
             [motoenv]\ndriver = \"s3\"\nendpoint = \"{endpoint}\"\n"
        ),
    );
    let secrets = vec![
        secret("secret key", key),
        url_token("session token", token),
        secret("password in a URL", URL_PASSWORD),
        secret("secret key from AWS_SECRET_ACCESS_KEY", env_key),
        url_token("session token from AWS_SESSION_TOKEN", env_token),
    ];
    let mut env = base_env(&w);
    for (k, v) in
        [("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENV"), ("AWS_SECRET_ACCESS_KEY", env_key), ("AWS_SESSION_TOKEN", env_token)]
    {
        env.push((k.to_owned(), v.to_owned()));
    }
    let runs = every_verbosity(
        &w,
        "moto",
        &EVERY_VERBOSITY,
        |c| working_steps(&w, "moto", c, Can { sign: true, clean: true }),
        &env,
        &secrets,
    );
    check_levels(&runs, true);
    // The session token signs the requests and travels in the signed URL.
    let signed = runs.iter().find(|r| r.what.contains(" presign ")).unwrap();
    assert!(contains(&signed.out.stdout, format!("X-Amz-Security-Token={token}").as_bytes()), "{}", signed.what);
    // A signed URL given back to the CLI: used, or refused, without being echoed.
    let container = bucket("sec-moto-urls");
    let url = presigned(&w, &env, "moto", &container);
    assert!(url.contains("X-Amz-Signature=") && url.contains(token), "{url}");
    for verbosity in EVERY_VERBOSITY {
        run_steps(&w, &signed_url_steps(&w, &url, "moto", &container, true), verbosity, &env, &secrets);
    }
    remove(&w, &env, "moto", &container);
    let runs = every_verbosity(
        &w,
        "motoenv",
        &EXTREMES,
        |c| working_steps(&w, "motoenv", c, Can { sign: true, clean: true }),
        &env,
        &secrets,
    );
    let signed = runs.iter().find(|r| r.what.contains(" presign ")).unwrap();
    assert!(contains(&signed.out.stdout, b"AKIAFROMTHEENV"), "the environment's keys are the ones used");
}

#[test]
fn s3s_fs_with_its_key_and_with_a_wrong_one() {
    let w = World::new();
    make_inputs(&w);
    let s3 = storage_testkit::S3Server::from_env("S3SFS");
    let wrong = "Wrong/Secret+Key-for-s3s-fs-1234";
    configure(
        &w,
        &format!(
            "[s3sfs]\ndriver = \"s3\"\nendpoint = \"{e}\"\naccess_key_id = \"{id}\"\nsecret_access_key = \"{s}\"\n\
             [refused]\ndriver = \"s3\"\nendpoint = \"{e}\"\naccess_key_id = \"{id}\"\nsecret_access_key = \"{wrong}\"\n",
            e = s3.endpoint,
            id = s3.access_key_id,
            s = s3.secret_access_key,
        ),
    );
    let secrets = vec![secret("secret key", &s3.secret_access_key), secret("wrong secret key", wrong)];
    let env = base_env(&w);
    let runs = every_verbosity(
        &w,
        "s3sfs",
        &EXTREMES,
        |c| working_steps(&w, "s3sfs", c, Can { sign: true, clean: false }),
        &env,
        &secrets,
    );
    check_levels(&runs, true);
    // A signed URL whose signature s3s-fs refuses: the fetch fails without echoing it.
    let container = bucket("sec-s3sfs-urls");
    let url = presigned(&w, &env, "s3sfs", &container);
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=00");
    for verbosity in EXTREMES {
        run_steps(&w, &signed_url_steps(&w, &tampered, "s3sfs", &container, false), verbosity, &env, &secrets);
    }
    remove(&w, &env, "s3sfs", &container);
    // The container exists (made with the right key) so the wrong key is refused, not
    // told "no such bucket".
    let owned = bucket("sec-s3sfs-refused");
    w.command(&["mb", &format!("s3sfs://{owned}")]).envs(env.clone()).output().unwrap();
    every_verbosity(&w, "refused", &EXTREMES, |_| refused_steps(&w, "refused", &owned), &env, &secrets);
    w.command(&["rb", "--force", &format!("s3sfs://{owned}")]).envs(env).output().unwrap();
}

#[test]
fn azurite_with_its_account_key_and_with_a_wrong_one() {
    let w = World::new();
    make_inputs(&w);
    let endpoint = env("AZURITE_BLOB_ENDPOINT");
    let key = storage::azure::EMULATOR_KEY;
    // A well-formed key of the same length that Azurite refuses.
    let wrong = "V3JvbmdBenVyZUtleUZvclRlc3RzV3JvbmdBenVyZUtleUZvclRlc3RzV3JvbmdBenVyZUtleUZvclRlc3RzISE=";
    configure(
        &w,
        &format!(
            "[azure]\ndriver = \"azure\"\nendpoint = \"{endpoint}\"\naccount = \"devstoreaccount1\"\n\
             account_key = \"{key}\"\nallow_http = true\n\
             [azconn]\ndriver = \"azure\"\nconnection_string = \"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             AccountKey={key};BlobEndpoint={endpoint}\"\n\
             [refused]\ndriver = \"azure\"\nendpoint = \"{endpoint}\"\naccount = \"devstoreaccount1\"\n\
             account_key = \"{wrong}\"\nallow_http = true\n"
        ),
    );
    let secrets = vec![
        secret("account key", key),
        secret("account key, decoded", base64_decode(key)),
        secret("account key, decoded, in hex", hex(&base64_decode(key))),
        secret("wrong account key", wrong),
        secret("wrong account key, decoded", base64_decode(wrong)),
    ];
    let env = base_env(&w);
    let runs = every_verbosity(
        &w,
        "azure",
        &EXTREMES,
        |c| working_steps(&w, "azure", c, Can { sign: true, clean: false }),
        &env,
        &secrets,
    );
    check_levels(&runs, true);
    // A SAS URL: used by cp, refused elsewhere, its sig= never echoed.
    let container = bucket("sec-az-urls");
    let url = presigned(&w, &env, "azure", &container);
    assert!(url.contains("sig="), "{url}");
    for verbosity in EXTREMES {
        run_steps(&w, &signed_url_steps(&w, &url, "azure", &container, true), verbosity, &env, &secrets);
    }
    remove(&w, &env, "azure", &container);
    every_verbosity(
        &w,
        "azconn",
        &[Verbosity::Trace],
        |c| working_steps(&w, "azconn", c, Can { sign: true, clean: false }),
        &env,
        &secrets,
    );
    let owned = bucket("sec-az-refused");
    w.command(&["mb", &format!("azure://{owned}")]).envs(env.clone()).output().unwrap();
    every_verbosity(&w, "refused", &EXTREMES, |_| refused_steps(&w, "refused", &owned), &env, &secrets);
    w.command(&["rb", "--force", &format!("azure://{owned}")]).envs(env).output().unwrap();
}

/// The throwaway service account key of the GCS driver's tests (inactive, public).
const SERVICE_ACCOUNT: &str = include_str!("../../storage-gcs/tests/fixtures/service-account.json");

#[test]
fn fake_gcs_with_a_service_account_key_and_a_bearer_token() {
    let w = World::new();
    make_inputs(&w);
    let endpoint = env("EMU_GCS_FAKEGCS_ENDPOINT");
    let access_token = "ya29.c.AccessTokenFromTheTokenEndpoint-0123456789";
    let bearer = "ya29.a0BearerTokenFromTheConfiguration-9876543210";
    // The token endpoint, in this process: the known access token for a JWT assertion
    // made with the key; Google's refusal for the other path.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime.block_on(storage_testkit::http::serve(move |seen: &storage_testkit::http::Seen| {
        if seen.path == "/token" && seen.form("assertion").is_some() {
            (200, format!(r#"{{"access_token":"{access_token}","expires_in":3600,"token_type":"Bearer"}}"#))
        } else {
            (400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.to_owned())
        }
    }));
    let key_json = |token_uri: &str| SERVICE_ACCOUNT.replace("https://oauth2.googleapis.com/token", token_uri);
    write(&w.path("sa.json"), key_json(&format!("{}/token", server.base)).as_bytes());
    write(&w.path("sa-refused.json"), key_json(&format!("{}/refuse", server.base)).as_bytes());
    configure(
        &w,
        &format!(
            "[gcs]\ndriver = \"gcs\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{sa}\"\n\
             [gcsbearer]\ndriver = \"gcs\"\nendpoint = \"{endpoint}\"\nbearer_token = \"{bearer}\"\n\
             [refused]\ndriver = \"gcs\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{refused}\"\n",
            sa = w.p("sa.json"),
            refused = w.p("sa-refused.json"),
        ),
    );
    let private_key: serde_json::Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    let pem = private_key["private_key"].as_str().unwrap();
    let mut secrets = vec![secret("access token", access_token), secret("bearer token", bearer)];
    // Each line of the private key's body.
    for (i, line) in pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 20).enumerate() {
        secrets.push(secret(&format!("private key (line {})", i + 1), line));
    }
    let env = base_env(&w);
    let runs = every_verbosity(
        &w,
        "gcs",
        &EXTREMES,
        |c| working_steps(&w, "gcs", c, Can { sign: true, clean: true }),
        &env,
        &secrets,
    );
    check_levels(&runs, true);
    // A V4 signed URL of the service account.
    let container = bucket("sec-gcs-urls");
    let url = presigned(&w, &env, "gcs", &container);
    assert!(url.contains("X-Goog-Signature="), "{url}");
    for verbosity in EXTREMES {
        run_steps(&w, &signed_url_steps(&w, &url, "gcs", &container, true), verbosity, &env, &secrets);
    }
    remove(&w, &env, "gcs", &container);
    let tokens = server.requests().iter().filter(|r| r.path == "/token").count();
    assert!(tokens > 0, "the key's token was asked for");
    every_verbosity(
        &w,
        "gcsbearer",
        &[Verbosity::Trace],
        |c| working_steps(&w, "gcsbearer", c, Can { sign: false, clean: true }),
        &env,
        &secrets,
    );
    every_verbosity(&w, "refused", &EXTREMES, |c| refused_steps(&w, "refused", c), &env, &secrets);
    assert!(server.requests().iter().any(|r| r.path == "/refuse"), "the refused key asked for a token");
}

/// A Redis server of this test's own, with a password; killed when dropped.
struct RedisWithPassword {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisWithPassword {
    fn start(password: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--requirepass", password, "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server could not be started ({e}); `cargo xtask emulators start` installs it")
            });
        let server = RedisWithPassword { child, port, _dir: dir };
        // Ready when it accepts a connection (it listens within a second or so).
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server on port {port} did not start listening");
    }
}

impl Drop for RedisWithPassword {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn redis_with_a_password_and_with_a_wrong_one() {
    let w = World::new();
    make_inputs(&w);
    let (password, wrong) = ("Redis-Pass/word+For-Tests-31337", "Wrong-Redis-Pass/word-42");
    let server = RedisWithPassword::start(password);
    // A password with `/` and `+` written into a URL is percent-encoded.
    let encode = |p: &str| p.replace('/', "%2F").replace('+', "%2B");
    configure(
        &w,
        &format!(
            "[redis]\ndriver = \"redis\"\nurl = \"redis://:{p}@127.0.0.1:{port}\"\n\
             [refused]\ndriver = \"redis\"\nurl = \"redis://default:{wp}@127.0.0.1:{port}\"\n",
            p = encode(password),
            wp = encode(wrong),
            port = server.port,
        ),
    );
    let secrets = vec![
        secret("password", password),
        secret("password, encoded", encode(password)),
        secret("wrong password", wrong),
        secret("wrong password, encoded", encode(wrong)),
    ];
    let env = base_env(&w);
    let runs = every_verbosity(
        &w,
        "redis",
        &EXTREMES,
        |c| working_steps(&w, "redis", c, Can { sign: false, clean: true }),
        &env,
        &secrets,
    );
    check_levels(&runs, false);
    every_verbosity(&w, "refused", &EXTREMES, |c| refused_steps(&w, "refused", c), &env, &secrets);
}

#[test]
fn proxy_passwords_and_retries_stay_out_of_the_logs() {
    let w = World::new();
    make_inputs(&w);
    let endpoint = env("EMU_S3_MOTO_ENDPOINT");
    let (key, proxy_password, env_proxy_password) =
        ("moto/Secret+Key-behind-a-proxy", "Proxy-Pass/word+31337", "Env-Proxy-Password-4242");
    // Nothing listens on this port: the proxy refuses the connection, which is retried once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    configure(
        &w,
        &format!(
            "[proxied]\ndriver = \"s3\"\nendpoint = \"{endpoint}\"\naccess_key_id = \"AKIAPROXIED\"\n\
             secret_access_key = \"{key}\"\nproxy = \"http://proxyuser:{pp}@127.0.0.1:{closed}\"\n\
             max_retries = \"1\"\nretry_initial_backoff = \"10ms\"\n\
             [envproxied]\ndriver = \"s3\"\nendpoint = \"http://moto.example.test:9000\"\naccess_key_id = \"AKIAPROXIED\"\n\
             secret_access_key = \"{key}\"\nmax_retries = \"1\"\nretry_initial_backoff = \"10ms\"\n\
             [badproxy]\ndriver = \"s3\"\nendpoint = \"{endpoint}\"\naccess_key_id = \"AKIAPROXIED\"\n\
             secret_access_key = \"{key}\"\nproxy = \"socks5://proxyuser:{pp}@127.0.0.1:{closed}\"\n",
            pp = proxy_password.replace('/', "%2F").replace('+', "%2B"),
        ),
    );
    let secrets = vec![
        secret("secret key", key),
        secret("proxy password", proxy_password),
        secret("proxy password, encoded", proxy_password.replace('/', "%2F").replace('+', "%2B")),
        secret("proxy password from HTTP_PROXY", env_proxy_password),
    ];
    let mut env = base_env(&w);
    let via = format!("http://envuser:{env_proxy_password}@127.0.0.1:{closed}");
    env.extend([("HTTP_PROXY".to_owned(), via.clone()), ("http_proxy".to_owned(), via)]);
    let runs = every_verbosity(&w, "proxied", &EVERY_VERBOSITY, |c| refused_steps(&w, "proxied", c), &env, &secrets);
    // -vv shows the retry, naming the request it repeats.
    let retried = runs.iter().filter(|r| r.verbosity == Verbosity::V2).any(|r| {
        r.stderr()
            .lines()
            .any(|l| l.contains("retrying") && l.contains("url=http://127.0.0.1:") && l.contains("attempt=0"))
    });
    assert!(retried, "no retry line at -vv");
    every_verbosity(&w, "envproxied", &EXTREMES, |c| refused_steps(&w, "envproxied", c), &env, &secrets);
}

#[test]
fn configuration_errors_never_quote_the_secret_they_hold() {
    let w = World::new();
    let (key, pem, password, token) = (
        "Config/Secret+Key-000111",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
        "Redis-Conf-Pass-777",
        "FwoConfigSessionToken-555",
    );
    let azure_key = storage::azure::EMULATOR_KEY;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    configure(
        &w,
        &format!(
            "[badproxy]\ndriver = \"s3\"\nendpoint = \"http://127.0.0.1:{closed}\"\naccess_key_id = \"AKIA\"\n\
             secret_access_key = \"{key}\"\nproxy = \"socks5://proxyuser:{password}@127.0.0.1:{closed}\"\n\
             [halfkeys]\ndriver = \"s3\"\nendpoint = \"http://127.0.0.1:{closed}\"\nsecret_access_key = \"{key}\"\n\
             session_token = \"{token}\"\n\
             [typo]\ndriver = \"s3\"\nendpoint = \"http://127.0.0.1:{closed}\"\nsecret_acess_key = \"{key}\"\n\
             [azconn]\ndriver = \"azure\"\nconnection_string = \"AccountName=devstoreaccount1;AccountKey={azure_key};Bogus\"\n\
             [gcsjson]\ndriver = \"gcs\"\ncredentials_json = '{{\"type\": \"service_account\", \"private_key\": \"{pem}'\n\
             [redisurl]\ndriver = \"redis\"\nurl = \"redis://:{password}@bad host:{closed}/x\"\n\
             [redisdown]\ndriver = \"redis\"\nurl = \"redis://:{password}@127.0.0.1:{closed}\"\n"
        ),
    );
    let secrets = vec![
        secret("secret key", key),
        secret("private key", pem),
        secret("password", password),
        url_token("session token", token),
        secret("azure key", azure_key),
    ];
    let env = base_env(&w);
    let mut steps: Vec<Step> = ["badproxy", "halfkeys", "typo", "azconn", "gcsjson", "redisurl"]
        .iter()
        .map(|remote| step(&["ls", &format!("{remote}://b/")], Expect::Code(2)))
        .collect();
    steps.push(step(&["cat", "redisdown://b/k"], Expect::Code(1)));
    for verbosity in EXTREMES {
        for ran in run_steps(&w, &steps, verbosity, &env, &secrets) {
            let err = ran.stderr();
            assert!(err.contains("storage: error: "), "{}: {err}", ran.what);
        }
    }
}
