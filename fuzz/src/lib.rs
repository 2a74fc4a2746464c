//! Helpers shared by the fuzz targets in `fuzz_targets/`: the properties several parsers
//! must keep (no secret in an error or in `Debug`), and a runtime for the async readers.
//!
//! Run the targets with `cargo xtask fuzz [TARGET|all] [--seconds N]`; see README.md,
//! "Fuzzing".

use std::future::Future;

/// Runs `future` to completion on a current-thread runtime built once per process (the
/// ZIP reader is async: it reads through a `Driver`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The input as text, if it is UTF-8.
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Cuts the input in two at its first NUL byte: (before, after). Targets that need two
/// texts (a credentials file and a config file) read them this way, so seeds stay
/// readable files.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Secrets worth checking for leaks: long enough not to occur by chance, and found in no
/// other string of the input (a secret that is also a profile name or a message may be
/// quoted as that).
pub fn checkable_secrets<'a>(secrets: &[&'a str], others: &[&str]) -> Vec<&'a str> {
    secrets
        .iter()
        .copied()
        .filter(|s| s.trim().len() >= 8)
        .map(str::trim)
        .filter(|s| !others.iter().any(|o| o.contains(s)))
        .collect()
}

/// Panics when `shown` (an error message, a `Debug` rendering) contains one of `secrets`.
pub fn assert_no_secret(shown: &str, secrets: &[&str], what: &str) {
    for s in secrets {
        assert!(!shown.contains(s), "{what} shows a secret ({s:?}): {shown}");
    }
}

/// Asserts that `render(input)` (an error message, a `Debug` rendering) shows none of
/// `secrets`, telling a leak from a secret that merely equals fixed text (a default value,
/// a word of a message): a secret that shows is replaced in the input by a marker no
/// message holds, and the leak is the marker showing in `render` of that input.
pub fn assert_no_leak(input: &[u8], secrets: &[&str], what: &str, render: impl Fn(&[u8]) -> String) {
    let shown = render(input);
    for (i, s) in secrets.iter().enumerate() {
        if s.is_empty() || !shown.contains(s) {
            continue;
        }
        let marker = format!("Zq{i}xFUZZxMARKERx{i}qZ");
        let Some(replaced) = replace_bytes(input, s.as_bytes(), marker.as_bytes()) else { continue };
        let again = render(&replaced);
        assert!(!again.contains(&marker), "{what} shows a secret (given as {marker}): {again}");
    }
}

/// `data` with every `from` replaced by `to`; `None` when `from` does not occur.
fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    let mut found = false;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
            found = true;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    found.then_some(out)
}

/// Every string value of a JSON document, split into the values of keys whose name says
/// they hold a secret (`secret`, `token`, `key`, `password`, `assertion`, `credential`) and
/// all the others (keys included).
pub fn json_strings(doc: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    fn walk(v: &serde_json::Value, secret: bool, secrets: &mut Vec<String>, others: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if secret => secrets.push(s.clone()),
            serde_json::Value::String(s) => others.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, secret, secrets, others)),
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    others.push(k.clone());
                    walk(v, is_secret_name(k), secrets, others);
                }
            }
            other => others.push(other.to_string()),
        }
    }
    let (mut secrets, mut others) = (Vec::new(), Vec::new());
    walk(doc, false, &mut secrets, &mut others);
    (secrets, others)
}

/// Whether a field or option name says its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["secret", "token", "key", "password", "assertion", "credential", "signature"].iter().any(|w| n.contains(w))
        && !["id", "uri", "url", "type", "file", "name", "format", "path", "host", "source"]
            .iter()
            .any(|s| n.ends_with(s))
}
