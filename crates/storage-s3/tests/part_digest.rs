//! A part's MD5 given by the caller (`put_part_with`) is sent as Content-MD5 and checked:
//! a part whose data does not match it is refused with `ObjectHashMismatch` on both S3
//! servers `cargo xtask test` starts (neither checks Content-MD5 on parts, so the driver
//! compares the part ETag), and the upload can still be completed with a correct part.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use storage_core::hash::md5_hex;
use storage_core::{Driver, DriverExt, ErrorKind, PartOptions, Payload, PutOptions};
use storage_s3::{S3Config, S3Driver};

use storage_testkit::env;

fn driver(prefix: &str) -> S3Driver {
    let c = S3Config::new().endpoint(env(&format!("EMU_S3_{prefix}_ENDPOINT"))).static_credentials(
        env(&format!("EMU_S3_{prefix}_ACCESS_KEY_ID")),
        env(&format!("EMU_S3_{prefix}_SECRET_ACCESS_KEY")),
    );
    S3Driver::new(c).unwrap()
}

async fn wrong_part_md5_is_refused(prefix: &str) {
    let s3 = driver(prefix);
    let b = format!("part-md5-{}-{}", prefix.to_ascii_lowercase(), std::process::id());
    let _ = s3.delete_prefix(&b, "").await;
    let _ = s3.delete_container(&b).await;
    s3.create_container(&b).await.unwrap();
    let up = s3.create_multipart(&b, "k", &PutOptions::default()).await.unwrap();
    let data = Bytes::from(vec![7u8; 1000]);
    let wrong = PartOptions::content_md5(md5_hex(b"something else"));
    let err = s3.put_part(&up, 1, Payload::Bytes(data.clone()), &wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectHashMismatch, "{err}");

    let right = PartOptions::content_md5(md5_hex(&data));
    let part = s3.put_part(&up, 1, Payload::Bytes(data.clone()), &right).await.unwrap();
    assert_eq!(part.etag.trim_matches('"'), md5_hex(&data));
    let o = s3.complete_multipart(&up, &[part], &Default::default()).await.unwrap();
    assert_eq!(o.size, 1000);
    assert_eq!(s3.get_bytes(&b, "k").await.unwrap(), data);
    s3.delete_object(&b, "k").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}

#[tokio::test]
async fn moto_refuses_a_part_whose_md5_does_not_match() {
    wrong_part_md5_is_refused("MOTO").await;
}

#[tokio::test]
async fn s3s_fs_refuses_a_part_whose_md5_does_not_match() {
    wrong_part_md5_is_refused("S3SFS").await;
}
