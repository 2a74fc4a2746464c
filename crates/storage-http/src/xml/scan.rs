//! A hand-written XML tokenizer for the hot paths (an S3 listing page holds a thousand
//! keys): tags and texts found by short byte loops (comments, CDATA sections and
//! instructions with `memchr`), no event objects, no copies; text comes out raw
//! and is unescaped only where a parser keeps it ([`unescape_into`]).
//!
//! It reads what quick-xml (the general [`walk`](super::walk)) reads, the same way, so a
//! parser can move to it without changing what it accepts: a leading UTF-8 byte order
//! mark is skipped; `<?...?>` (the declaration included), comments and `<!DOCTYPE ...>`
//! are skipped; CDATA sections are text; a tag ends at the first `>` outside quotes;
//! names lose their namespace prefix (up to the first `:`); an end tag with no element
//! open, an unclosed tag, comment, CDATA section or reference, and a text reference other
//! than the five predefined entities and valid character references are errors. Like the
//! drivers' walkers, it does not check that end tags match their start tags.

use std::fmt;

use memchr::memchr;

/// One piece of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `<name ...>`, or `<name .../>` when `empty`: the name's local part.
    Start {
        /// The name without its namespace prefix.
        local: &'a [u8],
        /// Whether the element closed itself (`<name/>`): no `End` follows.
        empty: bool,
    },
    /// `</name>`: the name's local part.
    End {
        /// The name without its namespace prefix.
        local: &'a [u8],
    },
    /// Character data between two pieces of markup, as written: references not yet
    /// resolved (see [`unescape_into`]), but known to be closed.
    Text(&'a [u8]),
    /// A CDATA section's content, verbatim.
    CData(&'a [u8]),
}

/// Why a document could not be read, and the byte offset where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// The offset in the document.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ScanError {}

/// The tokenizer: call [`Scanner::next_token`] until it returns `None`.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    xml: &'a [u8],
    /// The whole document, when it is UTF-8 (checked once): texts are then slices of
    /// it, with no check of their own.
    doc: Option<&'a str>,
    pos: usize,
    /// Elements open: an end tag with none open is an error.
    open: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `xml`.
    pub fn new(xml: &'a [u8]) -> Self {
        let pos = if xml.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        Scanner { xml, doc: std::str::from_utf8(xml).ok(), pos, open: 0 }
    }

    /// [`unescape_into`] for a text this scanner returned: when the whole document is
    /// UTF-8 the text is a slice of it (one check for the document instead of one per
    /// text); otherwise the text alone is checked, so a document with bytes that are not
    /// UTF-8 outside the texts kept reads as before.
    pub fn unescape_text(&self, raw: &'a [u8], out: &mut String) -> Result<(), &'static str> {
        let start = (raw.as_ptr() as usize).wrapping_sub(self.xml.as_ptr() as usize);
        // In range only when `raw` lies inside `xml`: then `text` is the same memory.
        match self.doc.and_then(|doc| doc.get(start..start.checked_add(raw.len())?)) {
            Some(text) => {
                debug_assert_eq!(text.as_bytes(), raw);
                unescape_str_into(text, out)
            }
            None => unescape_into(raw, out),
        }
    }

    fn error(&self, offset: usize, reason: &'static str) -> ScanError {
        ScanError { offset, reason }
    }

    /// The next token; `None` at the end of the document.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>, ScanError> {
        let xml = self.xml;
        loop {
            let Some(&first) = xml.get(self.pos) else { return Ok(None) };
            let at = self.pos;
            if first != b'<' {
                // Texts in wire formats are short: a table loop beats memchr's setup.
                let rest = &xml[at..];
                let stop = rest.iter().position(|&b| CLASS[usize::from(b)] & (LT | AMP) != 0).unwrap_or(rest.len());
                let amp = rest.get(stop) == Some(&b'&');
                let end = match amp {
                    true => at + stop + memchr(b'<', &rest[stop..]).unwrap_or(rest.len() - stop),
                    false => at + stop,
                };
                self.pos = end;
                if amp {
                    check_references(&xml[at..end]).map_err(|i| self.error(at + i, "unclosed reference"))?;
                }
                return Ok(Some(Token::Text(&xml[at..end])));
            }
            // `after` is the markup without its `<`.
            let after = &xml[at + 1..];
            match after.first() {
                None => return Err(self.error(at, "unclosed tag")),
                Some(b'!') => {
                    let (len, cdata) = bang(after).map_err(|reason| self.error(at, reason))?;
                    self.pos = at + 1 + len;
                    if let Some(content) = cdata {
                        return Ok(Some(Token::CData(content)));
                    }
                }
                Some(b'?') => {
                    // Ends at the first `?>`; `<?>` is an error, not the start of one.
                    let gt = memchr::memchr_iter(b'>', after)
                        .find(|&i| i > 0 && after[i - 1] == b'?')
                        .filter(|&i| i > 1)
                        .ok_or_else(|| self.error(at, "unclosed processing instruction"))?;
                    self.pos = at + 1 + gt + 1;
                }
                Some(b'/') => {
                    let (local, gt) = plain_tag::<false>(&after[1..])
                        .map(|(local, _, gt)| (local, gt))
                        .or_else(|| end_tag(&after[1..]))
                        .ok_or_else(|| self.error(at, "unclosed tag"))?;
                    if self.open == 0 {
                        return Err(self.error(at, "an end tag closes no element"));
                    }
                    self.open -= 1;
                    self.pos = at + 2 + gt + 1;
                    return Ok(Some(Token::End { local }));
                }
                Some(_) => {
                    let (local, empty, gt) = plain_tag::<true>(after)
                        .or_else(|| start_tag(after))
                        .ok_or_else(|| self.error(at, "unclosed tag"))?;
                    if !empty {
                        self.open += 1;
                    }
                    self.pos = at + 1 + gt + 1;
                    return Ok(Some(Token::Start { local, empty }));
                }
            }
        }
    }
}

/// Byte classes for the table loops ([`CLASS`]).
const SPACE: u8 = 1;
const GT: u8 = 2;
const QUOTE: u8 = 4;
const COLON: u8 = 8;
const SLASH: u8 = 16;
const LT: u8 = 32;
const AMP: u8 = 64;

/// The class of each byte: one load tells a loop whether the byte ends what it scans.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'\r' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[b'>' as usize] = GT;
    t[b'"' as usize] = QUOTE;
    t[b'\'' as usize] = QUOTE;
    t[b':' as usize] = COLON;
    t[b'/' as usize] = SLASH;
    t[b'<' as usize] = LT;
    t[b'&' as usize] = AMP;
    t
};

/// A tag whose content `s` (after its `<`, or its `</` when not `START`) is a bare name
/// closed by `>` (or `/>` for a start tag): its local name, whether it is empty, and the
/// offset of its `>`, in one pass. `None` for anything else (attributes, white space,
/// quotes, the end of the input): the general path reads those, with the same result for
/// a bare name.
fn plain_tag<const START: bool>(s: &[u8]) -> Option<(&[u8], bool, usize)> {
    // In an end tag a `/` is part of the name. (A constant: one loop per kind of tag.)
    let stops = SPACE | GT | QUOTE | COLON | if START { SLASH } else { 0 };
    let mut colon: Option<usize> = None;
    let mut i = 0;
    loop {
        i += s.get(i..)?.iter().position(|&b| CLASS[usize::from(b)] & stops != 0)?;
        match s[i] {
            b':' => {
                colon.get_or_insert(i);
            }
            // A `/` ends a start tag only right before its `>`; elsewhere it is part of the name.
            b'/' if s.get(i + 1) == Some(&b'>') => return Some((local_part(&s[..i], colon), true, i + 1)),
            b'/' => {}
            b'>' => return Some((local_part(&s[..i], colon), false, i)),
            _ => return None,
        }
        i += 1;
    }
}

/// A start tag whose content `s` starts after its `<`: its local name (the name ends at
/// the first white space), whether it is empty (`/` right before the `>`), and the offset
/// of its `>` (the first outside quotes); `None` if no `>` closes it.
fn start_tag(s: &[u8]) -> Option<(&[u8], bool, usize)> {
    let gt = tag_end(s)?;
    let content = &s[..gt];
    let (content, empty) = match content.strip_suffix(b"/") {
        Some(c) => (c, true),
        None => (content, false),
    };
    let name_len = content.iter().position(|&b| is_space(b)).unwrap_or(content.len());
    Some((local_name(&content[..name_len]), empty, gt))
}

/// An end tag whose content `s` starts after its `</`: its local name (trailing white
/// space dropped) and the offset of its `>` (the first outside quotes); `None` if no `>`
/// closes it.
fn end_tag(s: &[u8]) -> Option<(&[u8], usize)> {
    let gt = tag_end(s)?;
    Some((local_name(trim_end(&s[..gt])), gt))
}

/// `name` without its prefix, given the offset of its first `:`.
fn local_part(name: &[u8], colon: Option<usize>) -> &[u8] {
    colon.map_or(name, |c| &name[c + 1..])
}

/// XML's white space.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rposition(|&b| !is_space(b)).map_or(0, |i| i + 1);
    &s[..n]
}

/// A name without its prefix (what follows the first `:`).
fn local_name(name: &[u8]) -> &[u8] {
    name.iter().position(|&b| b == b':').map_or(name, |i| &name[i + 1..])
}

/// The offset of the `>` that ends a tag whose content starts `s`: the first one outside
/// single or double quotes. A loop: tags are short, and most hold no quote.
fn tag_end(s: &[u8]) -> Option<usize> {
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'>' => return Some(i),
            b'\'' | b'"' => return quoted_tag_end(s, i),
            _ => {}
        }
    }
    None
}

/// [`tag_end`] from the quote at `open`, where the tag's attribute values start.
fn quoted_tag_end(s: &[u8], open: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in s.iter().enumerate().skip(open) {
        match (quote, b) {
            (None, b'>') => return Some(i),
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    None
}

/// Reads `<!...>` markup, `s` starting at its `!`: its length up to and including `>`, and
/// the content of a CDATA section (`None` for a comment or a DOCTYPE, which are skipped).
fn bang(s: &[u8]) -> Result<(usize, Option<&[u8]>), &'static str> {
    match s.get(1) {
        Some(b'-') => {
            let gt =
                memchr::memchr_iter(b'>', s).find(|&i| i > 4 && s[..i].ends_with(b"--")).ok_or("unclosed comment")?;
            if !s.starts_with(b"!--") {
                return Err("malformed comment");
            }
            Ok((gt + 1, None))
        }
        Some(b'[') => {
            let gt = memchr::memchr_iter(b'>', s).find(|&i| s[..i].ends_with(b"]]")).ok_or("unclosed CDATA section")?;
            let content = s.get(8..gt - 2).filter(|_| s.starts_with(b"![CDATA[")).ok_or("malformed CDATA section")?;
            Ok((gt + 1, Some(content)))
        }
        Some(b'D' | b'd') => {
            // `<` and `>` balance inside (an internal subset's declarations).
            let mut depth = 0usize;
            let mut gt = None;
            for i in memchr::memchr2_iter(b'<', b'>', s) {
                if s[i] == b'<' {
                    depth += 1;
                } else if depth == 0 {
                    gt = Some(i);
                    break;
                } else {
                    depth -= 1;
                }
            }
            let gt = gt.ok_or("unclosed DOCTYPE")?;
            let named =
                s.len() >= 8 && s[..8].eq_ignore_ascii_case(b"!DOCTYPE") && s[8..gt].iter().any(|&b| !is_space(b));
            if !named {
                return Err("malformed DOCTYPE");
            }
            Ok((gt + 1, None))
        }
        _ => Err("unknown markup after <!"),
    }
}

/// Checks that every `&` of a text ends with a `;` before the next `&`: the offset of the
/// first that does not.
fn check_references(text: &[u8]) -> Result<(), usize> {
    let mut from = 0;
    while let Some(i) = memchr(b'&', &text[from..]) {
        let amp = from + i;
        match memchr::memchr2(b';', b'&', &text[amp + 1..]) {
            Some(j) if text[amp + 1 + j] == b';' => from = amp + 1 + j + 1,
            _ => return Err(amp),
        }
    }
    Ok(())
}

/// Appends `raw` (a [`Token::Text`]) to `out` with its references resolved: the five
/// predefined entities and character references (`&#65;`, `&#x41;`). Errors for text
/// that is not UTF-8, an unknown entity, or a reference to no character (0, a surrogate,
/// beyond U+10FFFF).
pub fn unescape_into(raw: &[u8], out: &mut String) -> Result<(), &'static str> {
    unescape_str_into(std::str::from_utf8(raw).map_err(|_| "text that is not UTF-8")?, out)
}

/// [`unescape_into`] for a text already known to be UTF-8.
pub fn unescape_str_into(text: &str, out: &mut String) -> Result<(), &'static str> {
    let mut rest = text;
    while let Some(amp) = rest.bytes().position(|b| b == b'&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = memchr(b';', after.as_bytes()).ok_or("unclosed reference")?;
        let name = &after[..semi];
        match name {
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "amp" => out.push('&'),
            "apos" => out.push('\''),
            "quot" => out.push('"'),
            _ => out.push(char_reference(name).ok_or("an unknown entity or an invalid character reference")?),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// The character of a character reference's name (`#65`, `#x41`).
fn char_reference(name: &str) -> Option<char> {
    let num = name.strip_prefix('#')?;
    let (digits, radix) = match num.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (num, 10),
    };
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok().filter(|&c| c != 0)?;
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(xml: &str) -> Result<Vec<Token<'_>>, ScanError> {
        let mut s = Scanner::new(xml.as_bytes());
        let mut out = Vec::new();
        while let Some(t) = s.next_token()? {
            out.push(t);
        }
        Ok(out)
    }

    fn text(raw: &str) -> Result<String, &'static str> {
        let mut out = String::new();
        unescape_into(raw.as_bytes(), &mut out).map(|()| out)
    }

    #[test]
    fn markup_is_skipped_and_names_lose_their_prefix() {
        let doc = "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"x\">]><!-- a -- b --><s3:R a='>' b=\"'\">\
                   t&amp;<K/><![CDATA[<&>]]></s3:R >";
        assert_eq!(
            tokens(doc).unwrap(),
            [
                Token::Start { local: b"R", empty: false },
                Token::Text(b"t&amp;"),
                Token::Start { local: b"K", empty: true },
                Token::CData(b"<&>"),
                Token::End { local: b"R" },
            ]
        );
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "<a",
            "<",
            "<a b='>",
            "</a>",
            "<a></a></a>",
            "<!-->",
            "<!-x-->",
            "<![CDATA[x]>",
            "<![CDAT[x]]>",
            "<!DOCTYPE>",
            "<!x>",
            "<?>",
            "<?>?>",
            "<?x>",
            "<a>&amp</a>",
            "<a>&a&b;</a>",
        ] {
            assert!(tokens(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(tokens("<a>b").unwrap().len(), 2, "an open element at the end is not an error");
    }

    /// The one-pass readers of bare tags agree with the general ones on every tag of up to
    /// six bytes from the bytes that matter to either (and say nothing where they differ
    /// in what they read).
    #[test]
    fn bare_tags_read_as_the_general_path_reads_them() {
        let alphabet = b"a:/> \"'";
        let mut tags: Vec<Vec<u8>> = vec![Vec::new()];
        let mut checked = (0, 0);
        for _ in 0..6 {
            let mut next = Vec::new();
            for t in &tags {
                for &b in alphabet {
                    let mut t = t.clone();
                    t.push(b);
                    if let Some(plain) = plain_tag::<true>(&t) {
                        assert_eq!(Some(plain), start_tag(&t), "<{}", String::from_utf8_lossy(&t));
                        checked.0 += 1;
                    }
                    if let Some((local, empty, gt)) = plain_tag::<false>(&t) {
                        assert!(!empty, "</{}", String::from_utf8_lossy(&t));
                        assert_eq!(Some((local, gt)), end_tag(&t), "</{}", String::from_utf8_lossy(&t));
                        checked.1 += 1;
                    }
                    next.push(t);
                }
            }
            tags = next;
        }
        assert!(checked.0 > 1000 && checked.1 > 1000, "{checked:?}");
        assert_eq!(plain_tag::<true>(b"a b>"), None);
        assert_eq!(plain_tag::<true>(b"s3:Key/>"), Some((&b"Key"[..], true, 7)));
        assert_eq!(plain_tag::<false>(b"s3:Key>"), Some((&b"Key"[..], false, 6)));
        assert_eq!(plain_tag::<false>(b"a/b/>"), Some((&b"a/b/"[..], false, 4)));
        assert_eq!(plain_tag::<false>(b"a/b>"), Some((&b"a/b"[..], false, 3)));
    }

    #[test]
    fn texts_unescape_alike_whether_the_document_is_utf8_or_not() {
        for doc in [&b"<a>x&amp;\xc3\xa9</a>"[..], b"<a>x&amp;\xc3\xa9</a><!-- \xff -->"] {
            let mut s = Scanner::new(doc);
            s.next_token().unwrap();
            let Some(Token::Text(raw)) = s.next_token().unwrap() else { panic!("no text") };
            let mut out = String::new();
            s.unescape_text(raw, &mut out).unwrap();
            assert_eq!(out, "x&\u{e9}");
        }
        // A text that is not UTF-8 is an error either way; a slice of another buffer is
        // checked on its own.
        let s = Scanner::new(b"<a>\xff</a>");
        assert!(s.unescape_text(&b"<a>\xff</a>"[3..4], &mut String::new()).is_err());
        let mut out = String::new();
        s.unescape_text(b"ok&lt;", &mut out).unwrap();
        assert_eq!(out, "ok<");
    }

    #[test]
    fn references_resolve() {
        assert_eq!(text("a&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;z").unwrap(), "a<>&'\"AB\u{1F600}z");
        for bad in ["&nbsp;", "&#0;", "&#xD800;", "&#x110000;", "&#+5;", "&#X41;", "&#;", "&;"] {
            assert!(text(bad).is_err(), "{bad:?} resolved");
        }
        assert!(unescape_into(b"\xff", &mut String::new()).is_err());
    }
}
