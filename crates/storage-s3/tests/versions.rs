//! Reading a given version: on moto with bucket versioning on, `GetOptions::version` reads
//! each version; an id the server does not keep is an error on every server, also on
//! s3s-fs, which answers such an id with the live object (handed on as that version
//! before).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use storage_core::{Driver, DriverExt, ErrorKind, GetOptions, PutOptions};
use storage_s3::{S3Config, S3Driver, S3Request};
use storage_testkit::S3Server;

fn driver(server: &str) -> S3Driver {
    let s = S3Server::from_env(server);
    S3Driver::new(S3Config::new().endpoint(s.endpoint).static_credentials(s.access_key_id, s.secret_access_key))
        .unwrap()
}

fn at(version: &str) -> GetOptions {
    GetOptions { version: Some(version.to_owned()), ..Default::default() }
}

async fn read(s3: &S3Driver, b: &str, options: &GetOptions) -> storage_core::Result<(Bytes, Option<String>)> {
    let got = s3.get_object(b, "k", options).await?;
    let version = got.object.version.clone();
    Ok((got.bytes().await?, version))
}

#[tokio::test]
async fn versions_of_a_versioned_bucket_are_read_on_moto() {
    let s3 = driver("MOTO");
    let b = format!("versioned-{}", std::process::id());
    s3.create_container(&b).await.unwrap();
    let xml = r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
    s3.send_raw(S3Request::put().bucket(&b).query("versioning", "").body(xml)).await.unwrap();
    let one = s3.put_object(&b, "k", Bytes::from_static(b"version one").into(), &PutOptions::default()).await.unwrap();
    let two = s3.put_object(&b, "k", Bytes::from_static(b"version two").into(), &PutOptions::default()).await.unwrap();
    let (v1, v2) = (one.version.unwrap(), two.version.unwrap());
    assert_ne!(v1, v2);
    assert_eq!(read(&s3, &b, &at(&v1)).await.unwrap(), (Bytes::from_static(b"version one"), Some(v1.clone())));
    assert_eq!(read(&s3, &b, &at(&v2)).await.unwrap(), (Bytes::from_static(b"version two"), Some(v2)));
    let e = read(&s3, &b, &at("3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{e}");
}

#[tokio::test]
async fn an_id_the_server_does_not_keep_never_reads_the_live_object() {
    for server in ["MOTO", "S3SFS", "RCLONE"] {
        let s3 = driver(server);
        let b = format!("unversioned-{}-{}", server.to_ascii_lowercase(), std::process::id());
        let _ = s3.delete_prefix(&b, "").await;
        s3.create_container(&b).await.unwrap();
        s3.put_object(&b, "k", Bytes::from_static(b"live").into(), &PutOptions::default()).await.unwrap();
        let e = read(&s3, &b, &at("3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY")).await.unwrap_err();
        // moto: NoSuchVersion; s3s-fs: the live object, refused by the driver; rclone: 501.
        assert!(e.is_not_found() || e.kind() == ErrorKind::NotSupported, "{server}: {e}");
        s3.delete_prefix(&b, "").await.unwrap();
        s3.delete_container(&b).await.unwrap();
    }
}
