//! Tests against real Redis servers: the standalone one (`REDIS_URL`) and the cluster
//! (`REDIS_CLUSTER_NODES`), as `cargo xtask emulators start redis redis-cluster` starts
//! them. Each test uses its own namespace and removes its keys afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

mod conditional;
mod containers;
mod failures;
mod kill;
mod leftovers;
mod listing;
mod multipart;
mod roundtrip;
