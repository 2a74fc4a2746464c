//! The Blob service's XML answers as named types, read with the streaming walker of
//! storage-http (no DOM): elements are matched by name under whatever root a server
//! uses, unknown elements are ignored, and a field a server leaves out is `None`.
//!
//! - Blob names that are not valid XML text come `<Name Encoded="true">` and
//!   percent-encoded; they are decoded here.
//! - Within one listing page, Azurite puts every `BlobPrefix` before the `Blob` entries;
//!   the driver merges them into key order, nothing here depends on the order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use storage_core::{Error, ErrorKind, Result};
pub use storage_http::xml::escape;
use storage_http::xml::{walk, walk_elements};

/// Parses the service's dates: RFC 1123 in properties (`Mon, 27 Jan 2014 22:28:43 GMT`),
/// ISO 8601 in a few places (`Creation-Time` is RFC 1123 too, delegation keys ISO).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    httpdate::parse_http_date(s)
        .ok()
        .map(DateTime::<Utc>::from)
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc)))
}

fn text(t: &str) -> Option<String> {
    Some(t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// An `<Error>` body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorDoc {
    /// `Code`.
    pub code: Option<String>,
    /// `Message` (first line: the service appends RequestId and Time on further lines).
    pub message: Option<String>,
}

impl ErrorDoc {
    /// Parses an error body; empty or not XML gives an empty document.
    pub fn parse(xml: &[u8]) -> Self {
        let mut doc = ErrorDoc::default();
        let _ = walk(xml, "Error", |p, t| {
            match p {
                "Code" => doc.code = text(t),
                "Message" => doc.message = t.lines().next().and_then(text),
                _ => {}
            }
            Ok(())
        });
        doc
    }
}

/// One container of List Containers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContainerItem {
    /// `Name`.
    pub name: String,
    /// `Properties/Last-Modified`.
    pub last_modified: Option<DateTime<Utc>>,
    /// `Properties/PublicAccess` (`blob`, `container`) when public.
    pub public_access: Option<String>,
}

/// A List Containers page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContainerList {
    /// The containers.
    pub containers: Vec<ContainerItem>,
    /// `NextMarker`, when more follow.
    pub next_marker: Option<String>,
}

impl ContainerList {
    /// Parses a List Containers answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = ContainerList::default();
        let mut cur = ContainerItem::default();
        walk(xml, "EnumerationResults", |p, t| {
            match p {
                "Containers/Container/Name" => cur.name = t.to_owned(),
                "Containers/Container/Properties/Last-Modified" => cur.last_modified = parse_time(t),
                "Containers/Container/Properties/PublicAccess" => cur.public_access = text(t),
                "Containers/Container" => out.containers.push(std::mem::take(&mut cur)),
                "NextMarker" => out.next_marker = text(t),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// One blob of List Blobs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobItem {
    /// `Name`, decoded.
    pub name: String,
    /// `Properties/Content-Length`.
    pub size: u64,
    /// `Properties/Etag`, without quotes.
    pub etag: Option<String>,
    /// `Properties/Last-Modified`.
    pub last_modified: Option<DateTime<Utc>>,
    /// `Properties/Content-Type`.
    pub content_type: Option<String>,
    /// `Properties/Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Properties/Cache-Control`.
    pub cache_control: Option<String>,
    /// `Properties/Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Properties/Content-MD5` (base64).
    pub content_md5: Option<String>,
    /// `Properties/AccessTier`.
    pub access_tier: Option<String>,
    /// `VersionId`.
    pub version_id: Option<String>,
    /// `Metadata/*`, names lowercased.
    pub metadata: BTreeMap<String, String>,
}

/// A List Blobs page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobList {
    /// The blobs, in the order sent.
    pub blobs: Vec<BlobItem>,
    /// `BlobPrefix/Name` entries (decoded).
    pub prefixes: Vec<String>,
    /// `NextMarker`, when more follow.
    pub next_marker: Option<String>,
}

fn name(e: &storage_http::xml::Element<'_>) -> Result<String> {
    if e.attribute("Encoded") == Some("true") {
        return percent_encoding::percent_decode_str(e.text)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| Error::new(ErrorKind::Backend, "a listed blob name is not valid UTF-8 once decoded"));
    }
    Ok(e.text.to_owned())
}

impl BlobList {
    /// Parses a List Blobs answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = BlobList::default();
        let mut cur = BlobItem::default();
        walk_elements(xml, "EnumerationResults", |e| {
            let t = e.text;
            match e.path {
                "Blobs/Blob/Name" => cur.name = name(e)?,
                "Blobs/Blob/VersionId" => cur.version_id = text(t),
                "Blobs/Blob/Properties/Content-Length" => cur.size = t.trim().parse().unwrap_or(0),
                "Blobs/Blob/Properties/Etag" => cur.etag = text(t.trim().trim_matches('"')),
                "Blobs/Blob/Properties/Last-Modified" => cur.last_modified = parse_time(t),
                "Blobs/Blob/Properties/Content-Type" => cur.content_type = text(t),
                "Blobs/Blob/Properties/Content-Encoding" => cur.content_encoding = text(t),
                "Blobs/Blob/Properties/Cache-Control" => cur.cache_control = text(t),
                "Blobs/Blob/Properties/Content-Disposition" => cur.content_disposition = text(t),
                "Blobs/Blob/Properties/Content-MD5" => cur.content_md5 = text(t),
                "Blobs/Blob/Properties/AccessTier" => cur.access_tier = text(t),
                "Blobs/Blob" => out.blobs.push(std::mem::take(&mut cur)),
                "Blobs/BlobPrefix/Name" => out.prefixes.push(name(e)?),
                "NextMarker" => out.next_marker = text(t),
                p => {
                    if let Some(k) = p.strip_prefix("Blobs/Blob/Metadata/") {
                        cur.metadata.insert(k.to_ascii_lowercase(), t.to_owned());
                    }
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A Get Block List answer: block names (decoded from base64 by the caller) and sizes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlockList {
    /// `CommittedBlocks/Block`: (name, size).
    pub committed: Vec<(String, u64)>,
    /// `UncommittedBlocks/Block`: (name, size).
    pub uncommitted: Vec<(String, u64)>,
}

impl BlockList {
    /// Parses a Get Block List answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = BlockList::default();
        let (mut name, mut size) = (String::new(), 0u64);
        walk(xml, "BlockList", |p, t| {
            match p {
                "CommittedBlocks/Block/Name" | "UncommittedBlocks/Block/Name" => name = t.trim().to_owned(),
                "CommittedBlocks/Block/Size" | "UncommittedBlocks/Block/Size" => size = t.trim().parse().unwrap_or(0),
                "CommittedBlocks/Block" => out.committed.push((std::mem::take(&mut name), size)),
                "UncommittedBlocks/Block" => out.uncommitted.push((std::mem::take(&mut name), size)),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A Get Blob Tags answer (`Tags/TagSet/Tag/{Key,Value}`): the tags by key.
pub fn parse_tags(xml: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let (mut key, mut value) = (String::new(), String::new());
    walk(xml, "Tags", |p, t| {
        match p {
            "TagSet/Tag/Key" => key = t.to_owned(),
            "TagSet/Tag/Value" => value = t.to_owned(),
            "TagSet/Tag" => {
                out.insert(std::mem::take(&mut key), std::mem::take(&mut value));
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

/// A Get User Delegation Key answer (the key is base64).
#[derive(Default, Clone)]
pub struct UserDelegationKey {
    /// `SignedOid`.
    pub oid: String,
    /// `SignedTid`.
    pub tid: String,
    /// `SignedStart`.
    pub start: String,
    /// `SignedExpiry`.
    pub expiry: String,
    /// `SignedService`.
    pub service: String,
    /// `SignedVersion`.
    pub version: String,
    /// `Value` (base64; a secret).
    pub value: String,
}

impl UserDelegationKey {
    /// Parses a Get User Delegation Key answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut k = UserDelegationKey::default();
        walk(xml, "UserDelegationKey", |p, t| {
            let v = t.trim().to_owned();
            match p {
                "SignedOid" => k.oid = v,
                "SignedTid" => k.tid = v,
                "SignedStart" => k.start = v,
                "SignedExpiry" => k.expiry = v,
                "SignedService" => k.service = v,
                "SignedVersion" => k.version = v,
                "Value" => k.value = v,
                _ => {}
            }
            Ok(())
        })?;
        if k.value.is_empty() {
            return Err(Error::new(ErrorKind::Backend, "Get User Delegation Key answered without a key"));
        }
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_lists_parse_with_prefixes_first_and_encoded_names() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix>a</Prefix><MaxResults>2</MaxResults><Delimiter>/</Delimiter>
  <Blobs>
    <BlobPrefix><Name>a/</Name></BlobPrefix>
    <Blob><Name>a b&amp;c</Name><Properties><Creation-Time>Mon, 27 Jan 2014 22:28:43 GMT</Creation-Time>
      <Last-Modified>Mon, 27 Jan 2014 22:28:43 GMT</Last-Modified><Etag>0x8D1A1</Etag>
      <Content-Length>12</Content-Length><Content-Type>text/plain</Content-Type>
      <Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5><BlobType>BlockBlob</BlobType></Properties>
      <Metadata><Owner>me</Owner></Metadata><Extra>ignored</Extra></Blob>
    <Blob><Name Encoded="true">%EF%BF%BFx</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>
  </Blobs>
  <NextMarker>2!abc</NextMarker>
</EnumerationResults>"#;
        let l = BlobList::parse(xml).unwrap();
        assert_eq!(l.prefixes, ["a/"]);
        assert_eq!(l.blobs.len(), 2);
        assert_eq!(l.blobs[0].name, "a b&c");
        assert_eq!(l.blobs[0].size, 12);
        assert_eq!(l.blobs[0].etag.as_deref(), Some("0x8D1A1"));
        assert_eq!(l.blobs[0].metadata.get("owner").map(String::as_str), Some("me"));
        assert!(l.blobs[0].last_modified.is_some());
        assert_eq!(l.blobs[1].name, "\u{FFFF}x");
        assert_eq!(l.next_marker.as_deref(), Some("2!abc"));
    }

    #[test]
    fn errors_containers_and_blocks_parse() {
        let e = ErrorDoc::parse(b"<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.\nRequestId:x\nTime:y</Message></Error>");
        assert_eq!(e.code.as_deref(), Some("BlobNotFound"));
        assert_eq!(e.message.as_deref(), Some("The specified blob does not exist."));
        assert_eq!(ErrorDoc::parse(b""), ErrorDoc::default());
        let c = ContainerList::parse(b"<EnumerationResults><Containers><Container><Name>c1</Name><Properties><Last-Modified>Mon, 27 Jan 2014 22:28:43 GMT</Last-Modified></Properties></Container></Containers><NextMarker/></EnumerationResults>").unwrap();
        assert_eq!(c.containers[0].name, "c1");
        assert_eq!(c.next_marker, None);
        let b = BlockList::parse(b"<BlockList><CommittedBlocks><Block><Name>QQ==</Name><Size>5</Size></Block></CommittedBlocks><UncommittedBlocks><Block><Name>Qg==</Name><Size>7</Size></Block></UncommittedBlocks></BlockList>").unwrap();
        assert_eq!(b.committed, [("QQ==".to_owned(), 5)]);
        assert_eq!(b.uncommitted, [("Qg==".to_owned(), 7)]);
    }
}
