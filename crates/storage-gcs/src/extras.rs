//! Libcloud's `extra` on GCS writes: what [`PutOptions`]' ACL, storage class, encryption
//! and provider headers become in the JSON API, checked before any request so a setting
//! GCS cannot honour is refused with a typed error and nothing is written.
//!
//! | option | upload (`objects.insert`) | compose (multipart commit) | rewrite (copy) |
//! |---|---|---|---|
//! | `acl` | `predefinedAcl` | `destinationPredefinedAcl` | `destinationPredefinedAcl` |
//! | `storage_class` | `storageClass` in the resource | `storageClass` in `destination` | `storageClass` in the body |
//! | `Encryption::Kms { key_id: Some(k) }` | `kmsKeyName` | `kmsKeyName` | `destinationKmsKeyName` |
//! | header `content-language` | `contentLanguage` | same | same |
//! | header `custom-time` / `x-goog-custom-time` | `customTime` (RFC 3339) | same | same |
//!
//! ACLs take S3's canned names (`public-read` is `publicRead`) or GCS's own; S3's
//! `public-read-write` and `log-delivery-write` have no GCS equivalent and are refused
//! (`Config`). Storage classes are `STANDARD`, `NEARLINE`, `COLDLINE` and `ARCHIVE`, in any
//! case. `Encryption::Managed` is GCS's default and sends nothing; `Kms` needs the key's
//! resource name (`Config` without one: the bucket's default key applies when nothing is
//! set); an Azure encryption `Scope` and object tags are `NotSupported`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use storage_core::{Encryption, Error, ErrorKind, PutOptions, Result};

use crate::client::Call;
use crate::driver::NAME;

/// Canned ACLs: S3's name, GCS's predefined ACL.
pub(crate) const ACLS: &[(&str, &str)] = &[
    ("private", "private"),
    ("public-read", "publicRead"),
    ("authenticated-read", "authenticatedRead"),
    ("bucket-owner-read", "bucketOwnerRead"),
    ("bucket-owner-full-control", "bucketOwnerFullControl"),
    ("project-private", "projectPrivate"),
];

/// GCS's storage classes.
pub(crate) const STORAGE_CLASSES: &[&str] = &["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"];

/// The provider headers that map onto the object resource (lower case).
pub(crate) const HEADERS: &[&str] = &["content-language", "custom-time", "x-goog-custom-time"];

/// The GCS side of a write's extras, validated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Extras {
    /// `predefinedAcl` / `destinationPredefinedAcl`.
    pub(crate) acl: Option<&'static str>,
    /// `storageClass`, upper case.
    pub(crate) storage_class: Option<String>,
    /// `kmsKeyName` / `destinationKmsKeyName`.
    pub(crate) kms_key_name: Option<String>,
    /// `contentLanguage`.
    pub(crate) content_language: Option<String>,
    /// `customTime`, RFC 3339 in UTC.
    pub(crate) custom_time: Option<String>,
}

fn config(message: String, hint: &str) -> Error {
    Error::new(ErrorKind::Config, message).with_driver(NAME).with_hint(hint.to_owned())
}

fn unsupported(message: String, hint: &str) -> Error {
    Error::new(ErrorKind::NotSupported, message).with_driver(NAME).with_hint(hint.to_owned())
}

/// GCS's predefined ACL for `acl` (S3's canned name or GCS's own, in any case).
pub(crate) fn predefined_acl(acl: &str) -> Result<&'static str> {
    let want = acl.trim().to_ascii_lowercase();
    ACLS.iter().find(|(s3, gcs)| *s3 == want || gcs.to_ascii_lowercase() == want).map(|(_, gcs)| *gcs).ok_or_else(
        || {
            let valid: Vec<String> = ACLS.iter().map(|(s3, gcs)| format!("{s3} ({gcs})")).collect();
            config(
                format!("GCS has no predefined ACL {acl:?}; nothing was written"),
                &format!("use one of: {}", valid.join(", ")),
            )
        },
    )
}

/// The storage class, upper case, if GCS has it.
pub(crate) fn storage_class(class: &str) -> Result<String> {
    let up = class.trim().to_ascii_uppercase();
    if STORAGE_CLASSES.contains(&up.as_str()) {
        return Ok(up);
    }
    Err(config(
        format!("GCS has no storage class {class:?}; nothing was written"),
        &format!("use one of: {}", STORAGE_CLASSES.join(", ")),
    ))
}

/// Whether `name` has the shape of a Cloud KMS key's resource name:
/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
fn is_kms_key_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() == 8
        && parts.iter().step_by(2).copied().eq(["projects", "locations", "keyRings", "cryptoKeys"])
        && parts.iter().skip(1).step_by(2).all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
}

impl Extras {
    /// The extras of `options`, or the typed error that refuses them (before any request).
    pub(crate) fn of(options: &PutOptions) -> Result<Self> {
        let mut x = Extras::default();
        if let Some(acl) = &options.acl {
            x.acl = Some(predefined_acl(acl)?);
        }
        if let Some(class) = &options.storage_class {
            x.storage_class = Some(storage_class(class)?);
        }
        match &options.encryption {
            None | Some(Encryption::Managed) => {}
            Some(Encryption::Kms { key_id: Some(key) }) => {
                if !is_kms_key_name(key) {
                    return Err(config(
                        format!("{key:?} is not a Cloud KMS key name; nothing was written"),
                        "give the key's resource name: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
                    ));
                }
                x.kms_key_name = Some(key.clone());
            }
            Some(Encryption::Kms { key_id: None }) => {
                return Err(config(
                    "GCS needs the Cloud KMS key's resource name to encrypt with a customer-managed key; nothing was \
                     written"
                        .into(),
                    "set key_id to projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY, or set no \
                     encryption: the bucket's default key (or Google's) applies",
                ));
            }
            Some(Encryption::Scope(_)) => {
                return Err(unsupported(
                    "GCS has no encryption scopes (an Azure setting); nothing was written".into(),
                    "use Encryption::Kms with a Cloud KMS key name, or Encryption::Managed",
                ));
            }
        }
        if !options.tags.is_empty() {
            return Err(unsupported(
                "GCS has no object tags; nothing was written".into(),
                "store them as user metadata instead",
            ));
        }
        for (name, value) in &options.headers {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-language" => x.content_language = Some(value.trim().to_owned()),
                "custom-time" | "x-goog-custom-time" => {
                    let t = DateTime::parse_from_rfc3339(value.trim()).map_err(|e| {
                        config(
                            format!("custom-time {value:?} is not an RFC 3339 time ({e}); nothing was written"),
                            "write it as 2024-01-02T03:04:05Z",
                        )
                    })?;
                    x.custom_time = Some(t.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true));
                }
                _ => {
                    return Err(unsupported(
                        format!("GCS has no equivalent of header {name:?}; nothing was written"),
                        &format!(
                            "the GCS driver maps only {}; content type, encoding, cache control, disposition and \
                             metadata have their own options",
                            HEADERS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(x)
    }

    /// Adds the object resource's fields (storage class, content language, custom time).
    pub(crate) fn add_to_resource(&self, m: &mut Map<String, Value>) {
        if let Some(c) = &self.storage_class {
            m.insert("storageClass".into(), json!(c));
        }
        if let Some(l) = &self.content_language {
            m.insert("contentLanguage".into(), json!(l));
        }
        if let Some(t) = &self.custom_time {
            m.insert("customTime".into(), json!(t));
        }
    }

    /// The query parameters of an upload (`objects.insert`, simple or resumable).
    pub(crate) fn upload_query<'a>(&self, call: Call<'a>) -> Call<'a> {
        self.query(call, "predefinedAcl", "kmsKeyName")
    }

    /// The query parameters of `objects.compose`.
    pub(crate) fn compose_query<'a>(&self, call: Call<'a>) -> Call<'a> {
        self.query(call, "destinationPredefinedAcl", "kmsKeyName")
    }

    /// The query parameters of `objects.rewrite`.
    pub(crate) fn rewrite_query<'a>(&self, call: Call<'a>) -> Call<'a> {
        self.query(call, "destinationPredefinedAcl", "destinationKmsKeyName")
    }

    fn query<'a>(&self, mut call: Call<'a>, acl: &'static str, kms: &'static str) -> Call<'a> {
        if let Some(a) = self.acl {
            call = call.query(acl, a);
        }
        if let Some(k) = &self.kms_key_name {
            call = call.query(kms, k.clone());
        }
        call
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut PutOptions)) -> Result<Extras> {
        let mut o = PutOptions::default();
        f(&mut o);
        Extras::of(&o)
    }

    #[test]
    fn canned_acls_map_to_predefined_acls() {
        for (s3, gcs) in ACLS {
            assert_eq!(predefined_acl(s3).unwrap(), *gcs);
            assert_eq!(predefined_acl(gcs).unwrap(), *gcs);
        }
        assert_eq!(predefined_acl("Public-Read").unwrap(), "publicRead");
        for bad in ["public-read-write", "log-delivery-write", "", "publicReadWrite"] {
            let e = predefined_acl(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
            assert!(e.hint().contains("bucket-owner-full-control (bucketOwnerFullControl)"), "{}", e.hint());
        }
    }

    #[test]
    fn storage_classes_are_checked_and_upper_cased() {
        assert_eq!(with(|o| o.storage_class = Some("nearline".into())).unwrap().storage_class.unwrap(), "NEARLINE");
        for bad in ["COOL", "STANDARD_IA", "glacier", ""] {
            let e = with(|o| o.storage_class = Some(bad.into())).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
            assert!(e.hint().contains("COLDLINE"));
        }
    }

    #[test]
    fn encryption_needs_a_key_name_and_refuses_scopes() {
        let key = "projects/p/locations/global/keyRings/r/cryptoKeys/k";
        let x = with(|o| o.encryption = Some(Encryption::Kms { key_id: Some(key.into()) })).unwrap();
        assert_eq!(x.kms_key_name.as_deref(), Some(key));
        assert_eq!(with(|o| o.encryption = Some(Encryption::Managed)).unwrap(), Extras::default());
        let e = with(|o| o.encryption = Some(Encryption::Kms { key_id: None })).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        for bad in ["k", "projects/p/locations/l/keyRings/r/cryptoKeys/", "projects/p/keyRings/r/cryptoKeys/k/x/y"] {
            let e = with(|o| o.encryption = Some(Encryption::Kms { key_id: Some(bad.into()) })).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
        }
        let e = with(|o| o.encryption = Some(Encryption::Scope("s".into()))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported);
    }

    #[test]
    fn headers_map_a_documented_set_and_refuse_the_rest() {
        let x = with(|o| {
            o.headers.insert("Content-Language".into(), "fr".into());
            o.headers.insert("x-goog-custom-time".into(), "2024-01-02T04:04:05+01:00".into());
        })
        .unwrap();
        assert_eq!(x.content_language.as_deref(), Some("fr"));
        assert_eq!(x.custom_time.as_deref(), Some("2024-01-02T03:04:05Z"));
        let e = with(|o| {
            o.headers.insert("custom-time".into(), "yesterday".into());
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = with(|o| {
            o.headers.insert("expires".into(), "x".into());
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported);
        assert!(e.hint().contains("content-language"));
        let e = with(|o| {
            o.tags.insert("a".into(), "b".into());
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported);
    }
}
