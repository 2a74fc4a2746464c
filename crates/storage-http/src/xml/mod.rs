//! A streaming XML walker for the cloud drivers' wire formats (S3, Azure Blob), with
//! quick-xml and no DOM. Feature `xml`.
//!
//! It accepts what real servers send: the root element's name is not checked (children
//! are matched by their path under whatever root a server uses), namespace prefixes are
//! dropped (local names only), entities and character references are resolved, and
//! unknown elements are simply visited, so parsers built on it ignore what they do not
//! know.

pub mod scan;

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use storage_core::{Error, ErrorKind, Result};

fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Backend, format!("the server's {what} XML is malformed: {e}"))
}

/// One element, handed to the callback of [`walk_elements`] when it closes.
#[derive(Debug)]
pub struct Element<'a> {
    /// The path of local names relative to the root: `""` for the root itself, `UploadId`
    /// for a child, `Upload/Key` for a grandchild.
    pub path: &'a str,
    /// The element's own text, entities resolved.
    pub text: &'a str,
    /// Its attributes (local names, values unescaped).
    pub attributes: &'a [(String, String)],
}

impl Element<'_> {
    /// The value of attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Walks `xml` (`what` names the document in errors), calling `on_close(path, text)` when
/// an element closes; see [`Element`] for `path` and `text`. Returns the root's local
/// name (`None` for a document without elements, such as an empty body).
pub fn walk(xml: &[u8], what: &str, mut on_close: impl FnMut(&str, &str) -> Result<()>) -> Result<Option<String>> {
    walk_elements(xml, what, |e| on_close(e.path, e.text))
}

/// [`walk`] with each element's attributes.
pub fn walk_elements(
    xml: &[u8],
    what: &str,
    mut on_close: impl FnMut(&Element<'_>) -> Result<()>,
) -> Result<Option<String>> {
    /// Extends `path` with an element that opens at `depth` (the root is not in paths).
    fn enter(path: &mut String, root: &mut Option<String>, depth: usize, name: &[u8]) {
        let name = String::from_utf8_lossy(name);
        if depth == 0 {
            root.get_or_insert_with(|| name.into_owned());
        } else {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(&name);
        }
    }
    fn attributes(e: &BytesStart<'_>, what: &str, out: &mut Vec<(String, String)>) -> Result<()> {
        out.clear();
        for a in e.attributes() {
            let a = a.map_err(|e| malformed(what, e))?;
            let value = a.unescape_value().map_err(|e| malformed(what, e))?;
            out.push((String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(), value.into_owned()));
        }
        Ok(())
    }
    let mut reader = Reader::from_reader(xml);
    let mut root: Option<String> = None;
    let mut path = String::with_capacity(128);
    // For each open element: where its name starts in `path`, and its attributes.
    let mut open: Vec<(usize, Vec<(String, String)>)> = Vec::with_capacity(8);
    let mut text = String::with_capacity(256);
    let mut empty_attrs = Vec::new();
    loop {
        match reader.read_event().map_err(|e| malformed(what, e))? {
            Event::Start(e) => {
                let mut attrs = Vec::new();
                if e.attributes().next().is_some() {
                    attributes(&e, what, &mut attrs)?;
                }
                open.push((path.len(), attrs));
                enter(&mut path, &mut root, open.len() - 1, e.local_name().as_ref());
                text.clear();
            }
            Event::Empty(e) => {
                let before = path.len();
                attributes(&e, what, &mut empty_attrs)?;
                enter(&mut path, &mut root, open.len(), e.local_name().as_ref());
                on_close(&Element { path: &path, text: "", attributes: &empty_attrs })?;
                path.truncate(before);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| malformed(what, e))?),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(what, e))? {
                        text.push(c);
                    }
                } else {
                    let name = r.decode().map_err(|e| malformed(what, e))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| malformed(what, format!("unknown entity &{name};")))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                let (start, attrs) = open.pop().unwrap_or_default();
                on_close(&Element { path: &path, text: &text, attributes: &attrs })?;
                text.clear();
                path.truncate(start);
            }
            Event::Eof => return Ok(root),
            _ => {}
        }
    }
}

/// Escapes text for an XML element body or attribute.
pub fn escape(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_text_and_attributes() {
        let mut seen = Vec::new();
        let root = walk_elements(
            b"<a:R xmlns:a='x'><a:B><Name Encoded=\"true\">k%20&amp;</Name><D x='1'/></a:B><E>2</E></a:R>",
            "t",
            |e| {
                seen.push((e.path.to_owned(), e.text.to_owned(), e.attribute("Encoded").map(str::to_owned)));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(root.as_deref(), Some("R"));
        assert_eq!(seen[0], ("B/Name".into(), "k%20&".into(), Some("true".into())));
        assert_eq!(seen[1].0, "B/D");
        assert_eq!(seen[2].0, "B");
        assert_eq!(seen[3], ("E".into(), "2".into(), None));
        assert!(walk(b"<a><b></a>", "t", |_, _| Ok(())).is_err());
    }
}
