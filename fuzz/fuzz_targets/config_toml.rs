//! The configuration file (`storage::Config::parse`, TOML) and what the drivers read from
//! its sections (`S3Config`, `AzureConfig` with connection strings, `GcsConfig` with inline
//! credentials JSON, `LocalOptions`, `HttpConfig`). Options that name files to read
//! (`credentials_file`, `ca_bundle`) are left out.
//! Properties: no panic; a parsed configuration printed back as TOML parses to the same
//! configuration; neither `Debug` nor an error shows the value of a secret option.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use storage::{Config, DriverConfig};
use storage_azure::AzureConfig;
use storage_fuzz::{assert_no_leak, checkable_secrets};
use storage_gcs::GcsConfig;
use storage_http::HttpConfig;
use storage_local::LocalOptions;
use storage_s3::S3Config;

/// Options whose values are secrets a driver keeps.
const SECRETS: &[&str] = &[
    "secret_access_key",
    "session_token",
    "ibm_api_key",
    "api_key",
    "account_key",
    "sas_token",
    "bearer_token",
    "client_secret",
    "connection_string",
    "credentials_json",
    "password",
];

/// Options naming files the driver would read.
const FILES: &[&str] = &["credentials_file", "ca_bundle"];

/// The values of an Azure connection string's parts that are not secrets (`AccountName`,
/// endpoints, protocol): the driver shows them (its `Debug` names the account), so a secret
/// option equal to one of them may show as that.
fn connection_string_public(value: &str) -> impl Iterator<Item = &str> {
    value.split(';').filter_map(|part| {
        let (k, v) = part.split_once('=')?;
        let k = k.trim();
        let secret = k.eq_ignore_ascii_case("AccountKey") || k.eq_ignore_ascii_case("SharedAccessSignature");
        (!secret).then_some(v)
    })
}

/// The configuration as TOML, every value a string.
fn print(config: &Config) -> String {
    let mut table = toml::Table::new();
    if let Some(d) = &config.default {
        table.insert("default".to_owned(), toml::Value::String(d.clone()));
    }
    for (name, section) in &config.sections {
        let s: toml::Table = section.iter().map(|(k, v)| (k.clone(), toml::Value::String(v.clone()))).collect();
        table.insert(name.clone(), toml::Value::Table(s));
    }
    toml::to_string(&table).expect("strings print")
}

/// What a driver makes of a section's options, as its `Debug` or its error.
fn driver_view(driver: &str, options: &DriverConfig) -> String {
    let mut http = HttpConfig::default();
    let http = http.apply_options(options).map(|()| format!("{http:?}"));
    let built = match driver {
        "s3" | "ibm_cos" => S3Config::from_config(options).map(|c| format!("{c:?}")),
        "azure" => AzureConfig::from_config(options).map(|c| format!("{c:?}")),
        "gcs" => GcsConfig::from_config(options).map(|c| format!("{c:?}")),
        "local" => LocalOptions::from_config(options).map(|c| format!("{c:?}")),
        _ => Ok(String::new()),
    };
    let show = |r: storage::Result<String>| match r {
        Ok(s) => s,
        Err(e) => format!("{e} {}", e.hint()),
    };
    format!("{} {}", show(http), show(built))
}

/// The configuration's `Debug`, each section's options' `Debug` and what its driver makes
/// of them.
fn render(data: &[u8]) -> String {
    let Some(config) = std::str::from_utf8(data).ok().and_then(|t| Config::parse(t, None).ok()) else {
        return String::new();
    };
    let mut shown = vec![format!("{config:?}")];
    let home = |k: &str| (k == "HOME").then(|| "/home/fuzz".to_owned());
    for name in config.sections.keys() {
        let options = match config.options_with(name, None, home) {
            Ok(options) => options,
            Err(e) => {
                shown.push(format!("{e} {}", e.hint()));
                continue;
            }
        };
        shown.push(format!("{options:?}"));
        let kept: BTreeMap<String, String> =
            options.iter().filter(|(k, _)| !FILES.contains(k)).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let options: DriverConfig = kept.into_iter().collect();
        shown.push(driver_view(&config.driver_of(name), &options));
    }
    shown.join("\n")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = Config::parse(text, None) else { return };
    let printed = print(&config);
    assert_eq!(Config::parse(&printed, None).ok().as_ref(), Some(&config), "{printed}");

    // Secret values, and every other string of the file they must not hide in.
    let mut secrets: Vec<&str> = Vec::new();
    let mut others: Vec<&str> = config.default.iter().map(String::as_str).collect();
    for (name, section) in &config.sections {
        others.push(name);
        for (k, v) in section {
            others.push(k);
            if SECRETS.contains(&k.as_str()) || storage::registry::is_secret_key(k) && !k.contains("proxy") {
                secrets.push(v);
                if k == "connection_string" {
                    others.extend(connection_string_public(v));
                }
            } else {
                others.push(v);
            }
        }
    }
    let secrets = checkable_secrets(&secrets, &others);
    assert_no_leak(data, &secrets, "the configuration or a driver's view of it", render);
});
