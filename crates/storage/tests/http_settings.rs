//! HTTP settings from the configuration file, for every cloud driver: a proxy (with
//! credentials) set in a section carries the driver's requests to the real emulator, and
//! a bad value is a `Config` error naming the option.
#![cfg(all(feature = "s3", feature = "azure", feature = "gcs"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use storage::{Config, DriverExt, ErrorKind, PutOptions, Storage};

fn with_options(root: &std::path::Path, section: &str, lines: &str) -> Storage {
    let text = common::config_text(root).replace(&format!("[{section}]\n"), &format!("[{section}]\n{lines}\n"));
    Storage::new(Config::parse(&text, None).unwrap())
}

#[tokio::test]
async fn a_configured_proxy_carries_every_cloud_driver() {
    let dir = tempfile::tempdir().unwrap();
    for (section, endpoint) in [
        ("moto", storage_testkit::env("EMU_S3_MOTO_ENDPOINT")),
        ("azure", storage_testkit::env("AZURITE_BLOB_ENDPOINT")),
        ("gcs", storage_testkit::env("EMU_GCS_FAKEGCS_ENDPOINT")),
    ] {
        // "dTpw" is base64("u:p").
        let (port, seen) = storage_testkit::connect_proxy(Some("dTpw")).await;
        let lines = format!(
            "proxy = \"http://u:p@127.0.0.1:{port}\"\nuser_agent = \"settings-test/1\"\nconnect_timeout = \"5s\"\nmax_retries = \"1\""
        );
        let storage = with_options(dir.path(), section, &lines);
        let driver = storage.backend(section).unwrap();
        assert!(!format!("{driver:?}").contains("u:p@"), "{section}: {driver:?}");
        let bucket = format!("proxied-{}-{section}", std::process::id());
        driver.create_container(&bucket).await.unwrap();
        driver.put_object(&bucket, "k", "through the proxy".into(), &PutOptions::default()).await.unwrap();
        assert_eq!(driver.get_bytes(&bucket, "k").await.unwrap(), "through the proxy");
        driver.delete_object(&bucket, "k").await.unwrap();
        driver.delete_container(&bucket).await.unwrap();
        let authority = endpoint.trim_start_matches("http://").split('/').next().unwrap().to_owned();
        let heads = seen.lock().unwrap().clone();
        assert!(!heads.is_empty(), "{section}: nothing went through the proxy");
        assert!(heads.iter().all(|h| h.starts_with(&format!("CONNECT {authority} "))), "{section}: {heads:?}");
    }
}

#[tokio::test]
async fn a_bad_http_setting_is_a_config_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for section in ["moto", "azure", "gcs"] {
        let storage = with_options(dir.path(), section, "read_timeout = \"soon\"");
        let e = storage.backend(section).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{section}: {e}");
        assert!(e.message().contains("read_timeout") && e.message().contains(section), "{section}: {e}");
        let storage = with_options(dir.path(), section, "proxy = \"socks5://u:hunter2@h:1\"");
        assert!(!format!("{:?}", storage.config()).contains("hunter2"));
        let e = storage.backend(section).unwrap_err();
        assert!(e.message().contains("proxy") && !e.message().contains("hunter2"), "{section}: {e}");
    }
}
