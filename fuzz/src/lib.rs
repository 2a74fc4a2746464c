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

/// Every string of a JSON document, split into the values of keys whose name says they
/// hold a secret (`secret`, `token`, `key`, `password`, `assertion`, `credential`; the
/// elements of an array under such a key too) and all the others: keys, other values, and
/// numbers and literals as written. `None` when `body` is not JSON.
///
/// A lexer rather than `serde_json::Value`: a parser built with `#[derive(Deserialize)]`
/// skips unknown members without a depth limit and sees every member of an object, while
/// `Value` refuses documents nested deeper than 128 and keeps only the last of duplicate
/// keys. Either would hide strings the parsers read, making a message that merely quotes
/// one look like a leak.
pub fn json_strings(body: &[u8]) -> Option<(Vec<String>, Vec<String>)> {
    /// An open object or array: whether its values are secret (an array's, from the key
    /// that holds it; an object's, from the key just read), and whether a key comes next.
    struct Open {
        object: bool,
        secret: bool,
        key_next: bool,
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    let (mut secrets, mut others) = (Vec::new(), Vec::new());
    let mut open: Vec<Open> = Vec::new();
    let secret_value = |open: &[Open]| open.last().is_some_and(|o| o.secret);
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'{' | b'[' => {
                let secret = body[i] == b'[' && secret_value(&open);
                open.push(Open { object: body[i] == b'{', secret, key_next: true });
                i += 1;
            }
            b'}' | b']' => {
                open.pop();
                i += 1;
            }
            b',' => {
                if let Some(o) = open.last_mut() {
                    o.key_next = o.object;
                }
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                let text: String = serde_json::from_slice(&body[start..i.min(body.len())]).ok()?;
                let secret = secret_value(&open);
                match open.last_mut() {
                    Some(o) if o.object && o.key_next => {
                        o.key_next = false;
                        o.secret = is_secret_name(&text);
                        others.push(text);
                    }
                    _ if secret => secrets.push(text),
                    _ => others.push(text),
                }
            }
            b if b.is_ascii_whitespace() || b == b':' => i += 1,
            _ => {
                let start = i;
                while i < body.len() && !b",]} \t\r\n".contains(&body[i]) {
                    i += 1;
                }
                others.push(String::from_utf8_lossy(&body[start..i]).into_owned());
            }
        }
    }
    Some((secrets, others))
}

/// Whether a field or option name says its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["secret", "token", "key", "password", "assertion", "credential", "signature"].iter().any(|w| n.contains(w))
        && !["id", "uri", "url", "type", "file", "name", "format", "path", "host", "source"]
            .iter()
            .any(|s| n.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_sees_every_member_at_any_depth() {
        let (secrets, others) =
            json_strings(br#"{"token":"s1","Message":"m1","Message":"m2","k":{"password":["s2",{"a":"o"}]},"n":1e3}"#)
                .unwrap();
        assert_eq!(secrets, ["s1", "s2"]);
        assert_eq!(others, ["token", "Message", "m1", "Message", "m2", "k", "password", "a", "o", "n", "1e3"]);
        let deep = format!(r#"{{"Message":"m","d":{}{},"token":"s"}}"#, "[".repeat(300), "]".repeat(300));
        let (secrets, others) = json_strings(deep.as_bytes()).unwrap();
        assert_eq!((secrets, others.contains(&"m".to_owned())), (vec!["s".to_owned()], true));
        assert!(json_strings(br#"{"a":"#).is_none());
        let (secrets, _) = json_strings(br#"{"secret":"a\"b\\"}"#).unwrap();
        assert_eq!(secrets, ["a\"b\\"]);
    }
}
