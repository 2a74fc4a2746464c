//! Azure Blob's XML answers (`storage_azure::xml`): every parser on every input, never a
//! panic. Properties: a blob name written the way the service writes it (escaped, or
//! percent-encoded with `Encoded="true"`) reads back unchanged, and blob tags survive a
//! write and a read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_azure::xml::{BlobList, BlockList, ContainerList, ErrorDoc, UserDelegationKey, parse_tags, parse_time};
use storage_http::xml::escape;

/// Percent-encodes every byte but ASCII letters and digits.
fn url_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

fuzz_target!(|data: &[u8]| {
    let _ = ErrorDoc::parse(data);
    let _ = ContainerList::parse(data);
    let _ = BlockList::parse(data);
    let _ = UserDelegationKey::parse(data);
    if let Ok(list) = BlobList::parse(data) {
        for blob in &list.blobs {
            assert!(blob.metadata.keys().all(|k| *k == k.to_ascii_lowercase()), "metadata names are lower-case");
        }
    }
    if let Ok(tags) = parse_tags(data) {
        // The tags, written back as Set Blob Tags sends them, read back the same.
        let mut doc = String::from("<Tags><TagSet>");
        for (k, v) in &tags {
            doc.push_str(&format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", escape(k), escape(v)));
        }
        doc.push_str("</TagSet></Tags>");
        assert_eq!(parse_tags(doc.as_bytes()).ok().as_ref(), Some(&tags), "{doc}");
    }

    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_time(text);
    let encoded = format!(
        "<EnumerationResults><Blobs><Blob><Name Encoded=\"true\">{}</Name><Properties><Content-Length>5\
         </Content-Length></Properties></Blob><BlobPrefix><Name Encoded=\"true\">{}</Name></BlobPrefix></Blobs>\
         </EnumerationResults>",
        url_encode(text),
        url_encode(text)
    );
    let list = BlobList::parse(encoded.as_bytes()).expect("a well-formed listing");
    assert_eq!(list.blobs.len(), 1);
    assert_eq!(list.blobs[0].name, text);
    assert_eq!(list.blobs[0].size, 5);
    assert_eq!(list.prefixes, vec![text.to_owned()]);
    let plain =
        format!("<EnumerationResults><Blobs><Blob><Name>{}</Name></Blob></Blobs></EnumerationResults>", escape(text));
    if let Ok(list) = BlobList::parse(plain.as_bytes()) {
        assert_eq!(list.blobs.first().map(|b| b.name.as_str()), Some(text), "escaped name");
    }
});
