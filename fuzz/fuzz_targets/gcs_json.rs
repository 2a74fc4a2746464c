//! Google Cloud Storage's JSON answers (`storage_gcs::json`): objects, listings, buckets,
//! rewrites and errors, never a panic. Properties: an object resource becomes an
//! `Object` without a panic, whatever its fields hold, and sizes given as strings or
//! numbers are read as the same number.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_gcs::json::{Buckets, ErrorBody, ObjectResource, Objects, Rewrite, parse};

fuzz_target!(|data: &[u8]| {
    let _ = ErrorBody::parse(data).reason().map(str::len);
    let _ = parse::<Buckets>(data, "buckets");
    if let Ok(rewrite) = parse::<Rewrite>(data, "rewrite")
        && let Some(resource) = rewrite.resource
    {
        let _ = resource.into_object("b");
    }
    if let Ok(objects) = parse::<Objects>(data, "objects") {
        for o in objects.items {
            let _ = o.crc32c_value();
            let name = o.name.clone();
            let object = o.into_object("bucket");
            assert_eq!(object.name, name);
        }
    }
    if let Ok(resource) = parse::<ObjectResource>(data, "object") {
        // The size as the service writes it (a decimal string) and as a number agree.
        // (serde_json skips unknown members without checking their escapes: the document
        // may not be a valid `Value`.)
        let doc: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
        let written = match doc.get("size") {
            Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        if let Some(size) = written {
            assert_eq!(resource.size, Some(size), "size {:?}", doc.get("size"));
            let again: ObjectResource =
                parse(format!("{{\"name\":\"x\",\"size\":{size}}}").as_bytes(), "object").expect("a number size");
            assert_eq!(again.size, Some(size));
        }
        let _ = resource.crc32c_value();
        let _ = resource.into_object("bucket");
    }
});
