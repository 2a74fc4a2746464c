//! S3's XML answers (`storage_s3::xml`): every parser on every input, never a panic.
//! Properties: the listing's hand-written fast paths agree with the general ones (its
//! scanner with quick-xml, on every input: the same listing or an error for both; its
//! timestamps with RFC 3339 parsing, its URL decoding with `url_decode`), and a key or
//! timestamp written into a listing the way servers write it reads back unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_s3::xml::{
    CompleteMultipartUploadResult, CopyObjectResult, CopyPartResult, DeleteResult, ErrorResponse,
    InitiateMultipartUploadResult, ListAllMyBucketsResult, ListBucketResult, ListMultipartUploadsResult, escape,
    parse_time, url_decode, walk,
};

/// Percent-encodes every byte but ASCII letters and digits, as S3 does for
/// `encoding-type=url` (`+` is never produced).
fn url_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

fuzz_target!(|data: &[u8]| {
    let _ = ErrorResponse::parse(data);
    let _ = ListAllMyBucketsResult::parse(data);
    let _ = InitiateMultipartUploadResult::parse(data);
    let _ = CompleteMultipartUploadResult::parse(data);
    let _ = DeleteResult::parse(data);
    let _ = CopyObjectResult::parse(data);
    let _ = CopyPartResult::parse(data);
    if let Ok(uploads) = ListMultipartUploadsResult::parse(data) {
        let _ = uploads.next_markers();
    }
    let _ = walk(data, "fuzz", |_, _| Ok(()));
    // The hand-written listing scanner reads every document as the general quick-xml
    // reader does: the same listing, or an error for both.
    let listing = ListBucketResult::parse(data);
    match (&listing, storage_s3::fuzzing::list_bucket_result_reference(data)) {
        (Ok(fast), Ok(reference)) => assert_eq!(fast, &reference, "the scanner and quick-xml read different listings"),
        (Err(_), Err(_)) => {}
        (fast, reference) => panic!("the scanner says {fast:?}, quick-xml says {reference:?}"),
    }
    if let Ok(listing) = listing {
        // Every object came from a <Contents> element.
        let contents = data.windows(b"Contents".len()).filter(|w| *w == b"Contents").count();
        assert!(listing.objects.len() <= contents, "{} objects from {contents} tags", listing.objects.len());
    }

    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = url_decode(text);
    // A timestamp in a listing: the fast path agrees with RFC 3339 parsing.
    let time_doc = format!(
        "<ListBucketResult><Contents><Key>k</Key><LastModified>{}</LastModified></Contents></ListBucketResult>",
        escape(text)
    );
    if let Ok(listing) = ListBucketResult::parse(time_doc.as_bytes()) {
        let fast = listing.objects.first().and_then(|o| o.last_modified);
        assert_eq!(fast, parse_time(text), "LastModified {text:?}");
    }
    // A key as servers send it with encoding-type=url reads back exactly.
    let key_doc = format!(
        "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>{}</Key><Size>7</Size></Contents>\
         <CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes></ListBucketResult>",
        url_encode(text),
        url_encode(text)
    );
    let listing = ListBucketResult::parse(key_doc.as_bytes()).expect("a well-formed listing");
    assert_eq!(listing.objects.len(), 1);
    assert_eq!(listing.objects[0].key, text);
    assert_eq!(listing.objects[0].size, 7);
    assert_eq!(listing.prefixes, vec![text.to_owned()]);
    // A key XML-escaped (no encoding-type) reads back verbatim too.
    let plain = format!("<ListBucketResult><Contents><Key>{}</Key></Contents></ListBucketResult>", escape(text));
    if let Ok(listing) = ListBucketResult::parse(plain.as_bytes()) {
        assert_eq!(listing.objects.first().map(|o| o.key.as_str()), Some(text), "escaped key");
    }
});
