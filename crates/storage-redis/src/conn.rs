//! The connection: a reconnecting `ConnectionManager` for a standalone server, or the
//! async cluster connection (which follows MOVED/ASK and reconnects itself).
//!
//! Separate because it is the only place that knows standalone from cluster: everything
//! else sends commands through [`RedisConnection`] (which users can reach too, through
//! `RedisDriver::connection`).

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::config::{Settings, Topology};

/// A cheap-to-clone handle on the driver's connection, usable with any `redis` command,
/// pipeline or script (it implements [`redis::aio::ConnectionLike`]).
#[derive(Clone)]
pub enum RedisConnection {
    /// A standalone server.
    Standalone(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisConnection::Standalone(_) => f.write_str("RedisConnection::Standalone"),
            RedisConnection::Cluster(_) => f.write_str("RedisConnection::Cluster"),
        }
    }
}

impl RedisConnection {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConnection::Cluster(_))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Standalone(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Standalone(c) => c.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Standalone(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

/// Opens the connection described by `settings`.
pub(crate) async fn connect(settings: &Settings) -> RedisResult<RedisConnection> {
    match &settings.topology {
        Topology::Standalone(info) => {
            let client = Client::open((**info).clone())?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(settings.connect_timeout))
                .set_response_timeout(Some(settings.response_timeout))
                .set_number_of_retries(2);
            Ok(RedisConnection::Standalone(client.get_connection_manager_with_config(config).await?))
        }
        Topology::Cluster(nodes) => {
            let client = ClusterClientBuilder::new(nodes.clone())
                .connection_timeout(settings.connect_timeout)
                .response_timeout(settings.response_timeout)
                .retries(3)
                .build()?;
            Ok(RedisConnection::Cluster(client.get_async_connection().await?))
        }
    }
}
