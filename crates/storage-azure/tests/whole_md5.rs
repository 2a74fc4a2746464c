//! A multipart upload stores the whole object's MD5 when the caller gave it (Put Block
//! List's `x-ms-blob-content-md5`), so HEAD reports it and downloads verify against it;
//! a wrong one is refused before anything is committed. Against Azurite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use storage_azure::{AzureConfig, AzureDriver};
use storage_core::{Driver, DriverExt, ErrorKind, PutOptions, Transfer, TransferOptions};

fn driver() -> Arc<AzureDriver> {
    let endpoint = std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
        panic!("AZURITE_BLOB_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start azurite`")
    });
    Arc::new(AzureDriver::new(AzureConfig::emulator().endpoint(endpoint)).unwrap())
}

fn md5_hex(data: &[u8]) -> String {
    storage_core::kit::md5_hex(data)
}

#[tokio::test]
async fn the_callers_md5_is_stored_with_a_multipart_object() {
    let d = driver();
    let c = format!("md5-{}", std::process::id());
    let _ = d.create_container(&c).await;
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i: u32| (i % 251) as u8).collect();
    let options = TransferOptions { single_put_threshold: 1024 * 1024, part_size: 1024 * 1024, ..Default::default() };
    let t = Transfer::with_options(d.clone(), options);
    let put = PutOptions { content_md5: Some(md5_hex(&data)), ..Default::default() };
    let o = t.upload_bytes(data.clone().into(), &c, "big.bin", put).await.unwrap();
    assert_eq!(o.md5(), Some(md5_hex(&data).as_str()));
    let head = d.head_object(&c, "big.bin").await.unwrap();
    assert_eq!(head.md5(), Some(md5_hex(&data).as_str()), "HEAD reports the stored MD5");
    assert_eq!(d.get_bytes(&c, "big.bin").await.unwrap(), data);
    // Without it the object has no MD5 (the parts were checked one by one).
    t.upload_bytes(data.clone().into(), &c, "plain.bin", PutOptions::default()).await.unwrap();
    assert_eq!(d.head_object(&c, "plain.bin").await.unwrap().md5(), None);
    // A wrong MD5 is refused before the commit: the old object stays.
    let wrong = PutOptions { content_md5: Some(md5_hex(b"something else")), ..Default::default() };
    let e = t.upload_bytes(vec![7u8; 2 * 1024 * 1024 + 1].into(), &c, "big.bin", wrong).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
    assert_eq!(d.get_bytes(&c, "big.bin").await.unwrap(), data);
}
