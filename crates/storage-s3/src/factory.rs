//! [`S3Factory`]: builds S3 drivers for the registry.

use std::sync::Arc;

use storage_core::{Driver, DriverConfig, DriverFactory, Result};

use crate::{S3Config, S3Driver};

/// Builds [`S3Driver`]s from a string map (see [`S3Config::from_config`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct S3Factory;

impl DriverFactory for S3Factory {
    fn name(&self) -> &str {
        "s3"
    }
    fn schemes(&self) -> &[&str] {
        &["s3", "s3a"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(S3Driver::new(S3Config::from_config(config)?)?))
    }
}
