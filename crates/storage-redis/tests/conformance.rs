//! The shared conformance suite against a standalone Redis and a 3-master Redis Cluster,
//! both started by `cargo xtask test`. A small chunk size makes the multi-MiB cases span
//! many chunks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use storage_core::Driver;
use storage_redis::RedisDriver;

use storage_testkit::env;

fn namespace(tag: &str) -> String {
    format!("conformance-{tag}-{}", std::process::id())
}

mod standalone {
    use super::*;
    storage_conformance::conformance_tests!(async {
        let d = RedisDriver::builder()
            .url(env("REDIS_URL"))
            .namespace(namespace("standalone"))
            .chunk_size(64 * 1024)
            .build()
            .unwrap();
        Arc::new(d) as Arc<dyn Driver>
    });
}

mod cluster {
    use super::*;
    storage_conformance::conformance_tests!(
        async {
            let nodes = env("REDIS_CLUSTER_NODES");
            let d = RedisDriver::builder()
                .cluster_nodes(nodes.split(','))
                .namespace(namespace("cluster"))
                .chunk_size(64 * 1024)
                .build()
                .unwrap();
            Arc::new(d) as Arc<dyn Driver>
        },
        storage_conformance::RunConfig { label: Some("redis (cluster)".into()), ..Default::default() }
    );
}
