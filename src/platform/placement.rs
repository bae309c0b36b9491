//! Where tenants live on a Citus cluster, for operators: the nodes and their shards
//! (`tenantry cluster status`), a tenant given shards of its own (`tenantry tenant
//! isolate`), and a tenant's shards moved to another node (`tenantry tenant move`).
//!
//! Everything here is Citus's own machinery: `isolate_tenant_to_new_shard` splits the
//! tenant's hash value out of its shard (with the co-located shards of every tenant table),
//! and `citus_move_shard_placement` copies a shard group to another node while reads and
//! writes go on (logical replication; see [`Platform::move_tenant`]). Runs as the login
//! role (a superuser for an online move: it lets Citus's subscription role past row-level security) on
//! the coordinator; refused with a clear message on a single server.

use super::model::Platform;
use crate::error::{AppError, AppResult, ErrorCode};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// The table every tenant table is co-located with (see migrations/…_citus).
const ANCHOR: &str = "public.contacts";

/// A node of the cluster and what it holds.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct NodeStatus {
    /// Citus's node id.
    #[diesel(sql_type = Integer)]
    pub node_id: i32,
    /// Host (a socket folder for the local cluster) and port.
    #[diesel(sql_type = Text)]
    pub address: String,
    /// `coordinator` or `worker`.
    #[diesel(sql_type = Text)]
    pub role: String,
    /// Shards of distributed tables placed here.
    #[diesel(sql_type = BigInt)]
    pub shards: i64,
    /// Their size in bytes.
    #[diesel(sql_type = BigInt)]
    pub bytes: i64,
}

/// A tenant's place and size.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct TenantPlacement {
    /// The tenant's slug.
    #[diesel(sql_type = Text)]
    pub slug: String,
    /// The node holding its shards.
    #[diesel(sql_type = Integer)]
    pub node_id: i32,
    /// The shard of the anchor table holding it (its shard group's id).
    #[diesel(sql_type = BigInt)]
    pub shard_id: i64,
    /// Its rows in contacts, conversations and messages.
    #[diesel(sql_type = BigInt)]
    pub rows: i64,
}

/// What `tenant move` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// The node id the tenant's shard group was on.
    pub from: i32,
    /// The node id it is on now.
    pub to: i32,
    /// Tenants in that shard group (all moved together; `isolate` first to move one alone).
    pub tenants: i64,
    /// Whether writes went on during the copy (`force_logical`); `false` when a worker
    /// commits asynchronously and the move blocked writes instead (see [`Platform::move_tenant`]).
    pub online: bool,
}

#[derive(diesel::QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

#[derive(diesel::QueryableByName)]
struct ShardPlace {
    #[diesel(sql_type = BigInt)]
    shard_id: i64,
    #[diesel(sql_type = Text)]
    host: String,
    #[diesel(sql_type = Integer)]
    port: i32,
    #[diesel(sql_type = Integer)]
    node_id: i32,
    #[diesel(sql_type = BigInt)]
    tenants_in_shard: i64,
}

#[derive(diesel::QueryableByName)]
struct Target {
    #[diesel(sql_type = Nullable<Text>)]
    host: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    port: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    node_id: Option<i32>,
}

/// Lets the move's logical replication apply into tables with FORCE ROW LEVEL SECURITY.
///
/// Citus applies the writes made during a move through a subscription it owns by a role of
/// its own (`citus_shard_move_subscription_role_…`), created on the target node as a member
/// of the tables' owner and then made non-superuser. PostgreSQL 15 refuses to apply changes
/// as a role that row-level security applies to, and FORCE makes it apply to the owner and
/// its members, so the apply worker fails ("cannot replicate into relation with row-level
/// security enabled") and retries for ever. Giving that role BYPASSRLS, while the move runs,
/// lets it apply; FORCE stays on for everyone else, and Citus drops the role when the move
/// ends. The role only replays rows the source shard already accepted under RLS.
///
/// Runs on every worker (the target creates the role); DDL propagation is off because a
/// role made by Citus for one node must stay on that node.
async fn let_subscriptions_apply(conn: &mut diesel_async::AsyncPgConnection) -> AppResult<()> {
    let done: Found = diesel::sql_query(
        r"SELECT coalesce(bool_and(success), false) AS found FROM run_command_on_workers($cmd$
            DO $grant$
            DECLARE r text;
            BEGIN
              SET LOCAL citus.enable_ddl_propagation TO off;
              FOR r IN SELECT rolname FROM pg_roles
                        WHERE rolname LIKE 'citus\_shard\_move\_subscription\_role\_%' AND NOT rolbypassrls
              LOOP
                EXECUTE format('ALTER ROLE %I BYPASSRLS', r);
              END LOOP;
            END $grant$
          $cmd$)",
    )
    .get_result(conn)
    .await
    .map_err(|e| db_error("letting the move's subscription apply", e))?;
    if !done.found {
        tracing::warn!(target: "platform", "a worker refused to let the move's subscription role past row-level security; trying again");
    }
    Ok(())
}

fn db_error(what: &str, e: diesel::result::Error) -> AppError {
    tracing::error!(target: "platform", error = %e, "{what}");
    AppError::new(ErrorCode::Internal, format!("{what}: {e}"))
}

impl Platform {
    async fn require_citus(&self) -> AppResult<()> {
        let mut conn = self.conn().await?;
        let row: Found = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS found",
        )
        .get_result(&mut conn)
        .await?;
        if !row.found {
            return Err(AppError::new(
                ErrorCode::BadUserInput,
                "this database is a single PostgreSQL server, not a Citus coordinator: there are no nodes to place tenants on",
            ));
        }
        Ok(())
    }

    /// The cluster's nodes with their shard counts and sizes.
    pub async fn cluster_nodes(&self) -> AppResult<Vec<NodeStatus>> {
        self.require_citus().await?;
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "SELECT n.nodeid AS node_id, n.nodename || ':' || n.nodeport AS address,
                    CASE WHEN n.groupid = 0 THEN 'coordinator' ELSE 'worker' END AS role,
                    count(s.shardid) FILTER (WHERE s.citus_table_type = 'distributed')::bigint AS shards,
                    coalesce(sum(s.shard_size) FILTER (WHERE s.citus_table_type = 'distributed'), 0)::bigint AS bytes
               FROM pg_dist_node n
               LEFT JOIN citus_shards s ON s.nodename = n.nodename AND s.nodeport = n.nodeport
              WHERE n.isactive AND n.noderole = 'primary'
              GROUP BY n.nodeid, n.nodename, n.nodeport, n.groupid
              ORDER BY n.nodeid",
        )
        .load(&mut conn)
        .await
        .map_err(|e| db_error("listing the cluster's nodes", e))
    }

    /// The largest tenants (by rows in contacts, conversations and messages) with their node,
    /// at most `per_node` per node.
    pub async fn largest_tenants(&self, per_node: i64) -> AppResult<Vec<TenantPlacement>> {
        self.require_citus().await?;
        let mut conn = self.conn().await?;
        diesel::sql_query(format!(
            "WITH sizes AS (
               SELECT tenant_id, sum(n)::bigint AS rows FROM (
                 SELECT tenant_id, count(*) AS n FROM contacts GROUP BY tenant_id
                 UNION ALL SELECT tenant_id, count(*) FROM conversations GROUP BY tenant_id
                 UNION ALL SELECT tenant_id, count(*) FROM messages GROUP BY tenant_id) c
               GROUP BY tenant_id),
             placed AS (
               SELECT t.slug, n.nodeid AS node_id, sh.shardid AS shard_id, coalesce(s.rows, 0) AS rows
                 FROM tenants t
                 LEFT JOIN sizes s ON s.tenant_id = t.id
                 CROSS JOIN LATERAL get_shard_id_for_distribution_column('{ANCHOR}', t.id) AS sh(shardid)
                 JOIN pg_dist_placement p ON p.shardid = sh.shardid
                 JOIN pg_dist_node n ON n.groupid = p.groupid),
             ranked AS (
               SELECT *, row_number() OVER (PARTITION BY node_id ORDER BY rows DESC, slug) AS rank
                 FROM placed)
             SELECT slug, node_id, shard_id, rows FROM ranked WHERE rank <= $1
              ORDER BY node_id, rows DESC, slug"
        ))
        .bind::<BigInt, _>(per_node)
        .load(&mut conn)
        .await
        .map_err(|e| db_error("listing the largest tenants", e))
    }

    async fn shard_of(&self, tenant: Uuid) -> AppResult<ShardPlace> {
        let mut conn = self.conn().await?;
        diesel::sql_query(format!(
            "SELECT sh.shardid AS shard_id, n.nodename AS host, n.nodeport AS port, n.nodeid AS node_id,
                    (SELECT count(*) FROM tenants t
                      WHERE get_shard_id_for_distribution_column('{ANCHOR}', t.id) = sh.shardid)::bigint
                      AS tenants_in_shard
               FROM get_shard_id_for_distribution_column('{ANCHOR}', $1) AS sh(shardid)
               JOIN pg_dist_placement p ON p.shardid = sh.shardid
               JOIN pg_dist_node n ON n.groupid = p.groupid"
        ))
        .bind::<SqlUuid, _>(tenant)
        .get_result(&mut conn)
        .await
        .map_err(|e| db_error("finding the tenant's shard", e))
    }

    /// Gives the tenant shards of its own (in every co-located table), so it can be moved
    /// alone; returns the new shard id of the anchor table. Writes to the tenant are
    /// blocked while its rows are split out (Citus's `block_writes` mode: the split copies
    /// only this shard's rows).
    pub async fn isolate_tenant(&self, slug_or_id: &str) -> AppResult<i64> {
        self.require_citus().await?;
        let tenant = self.find_tenant(slug_or_id).await?;
        let place = self.shard_of(tenant.id).await?;
        if place.tenants_in_shard <= 1 {
            tracing::info!(target: "platform", tenant = %tenant.slug, shard = place.shard_id, "already alone in its shard");
            return Ok(place.shard_id);
        }
        #[derive(diesel::QueryableByName)]
        struct NewShard {
            #[diesel(sql_type = BigInt)]
            shard_id: i64,
        }
        let mut conn = self.conn().await?;
        let row: NewShard = diesel::sql_query(format!(
            "SELECT isolate_tenant_to_new_shard('{ANCHOR}', $1, 'CASCADE', shard_transfer_mode => 'block_writes') AS shard_id"
        ))
        .bind::<SqlUuid, _>(tenant.id)
        .get_result(&mut conn)
        .await
        .map_err(|e| db_error("isolating the tenant", e))?;
        tracing::info!(target: "platform", tenant = %tenant.slug, shard = row.shard_id, "tenant isolated");
        Ok(row.shard_id)
    }

    /// Moves the tenant's shard group to node `to` (a node id, or `host:port`) online:
    /// Citus copies it while reads and writes go on, streams the writes made meanwhile
    /// through logical replication, and holds writes only for the switch-over. Every tenant
    /// sharing the shard group moves with it (`isolate` first to move one alone).
    ///
    /// Citus ends the move once its subscription has caught up with the source's WAL
    /// *write* position. A worker that commits asynchronously (`synchronous_commit = off`)
    /// acknowledges a commit before writing its WAL, so a write answered just before the
    /// switch-over would stay behind on the old node: acknowledged, then lost. On such a
    /// cluster the move falls back to Citus's `block_writes` mode (writes to the group
    /// wait for the copy) and says so. `SHOW` answers for this connection's role only, so
    /// a worker with any role's setting of `synchronous_commit = off` in this database (or
    /// in all databases) counts as asynchronous too: the server may log in as another role
    /// than this command.
    pub async fn move_tenant(&self, slug_or_id: &str, to: &str) -> AppResult<Moved> {
        self.require_citus().await?;
        let tenant = self.find_tenant(slug_or_id).await?;
        let place = self.shard_of(tenant.id).await?;
        let mut conn = self.conn().await?;
        let target: Target = diesel::sql_query(
            "SELECT max(nodename) AS host, max(nodeport) AS port, max(nodeid) AS node_id
               FROM (SELECT nodename, nodeport, nodeid FROM pg_dist_node
                      WHERE noderole = 'primary' AND isactive AND groupid <> 0
                        AND (nodeid::text = $1 OR nodename || ':' || nodeport = $1)
                      ORDER BY nodeid LIMIT 1) n",
        )
        .bind::<Text, _>(to.trim())
        .get_result(&mut conn)
        .await?;
        let (Some(host), Some(port), Some(node_id)) = (target.host, target.port, target.node_id)
        else {
            return Err(AppError::new(
                ErrorCode::BadUserInput,
                format!("no active worker {to:?}: name one by its id or host:port, as `tenantry cluster status` lists them"),
            ));
        };
        let mut moved = Moved {
            from: place.node_id,
            to: node_id,
            tenants: place.tenants_in_shard,
            online: true,
        };
        if node_id == place.node_id {
            return Ok(moved);
        }
        #[derive(diesel::QueryableByName)]
        struct Online {
            #[diesel(sql_type = Bool)]
            superuser: bool,
            #[diesel(sql_type = Bool)]
            asynchronous: bool,
        }
        // A worker whose answer is missing counts as asynchronous.
        let online: Online = diesel::sql_query(
            "SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser,
                    coalesce(bool_or(NOT success OR result = 'off'), true)
                    OR (SELECT coalesce(bool_or(NOT success OR result <> '0'), true)
                          FROM run_command_on_workers($$
                            SELECT count(*) FROM pg_db_role_setting s, unnest(s.setconfig) c
                             WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                               AND lower(split_part(c, '=', 1)) = 'synchronous_commit'
                               AND lower(split_part(c, '=', 2)) IN ('off', 'false', 'no', '0')$$)) AS asynchronous
               FROM run_command_on_workers('SHOW synchronous_commit')",
        )
        .get_result(&mut conn)
        .await
        .map_err(|e| db_error("reading the workers' synchronous_commit", e))?;
        if online.asynchronous {
            tracing::warn!(target: "platform", tenant = %tenant.slug,
                "a worker commits asynchronously (synchronous_commit = off, for the server or for a role in this database): an online move could lose writes answered just before its switch-over, so this move blocks writes to the tenant's shards while they are copied");
            moved.online = false;
        } else if !online.superuser {
            tracing::warn!(target: "platform", tenant = %tenant.slug,
                "not a superuser: Citus's subscription role cannot be let past row-level security (see let_subscriptions_apply), so this move blocks writes to the tenant's shards while they are copied");
            moved.online = false;
        }
        let mode = if moved.online {
            "force_logical"
        } else {
            "block_writes"
        };
        let mut moving = self.conn().await?;
        let copy = diesel::sql_query(
            "SELECT citus_move_shard_placement($1, $2, $3, $4, $5, shard_transfer_mode => $6::citus.shard_transfer_mode)",
        )
        .bind::<BigInt, _>(place.shard_id)
        .bind::<Text, _>(&place.host)
        .bind::<Integer, _>(place.port)
        .bind::<Text, _>(&host)
        .bind::<Integer, _>(port)
        .bind::<Text, _>(mode)
        .execute(&mut moving);
        tokio::pin!(copy);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tokio::select! {
                done = &mut copy => {
                    done.map_err(|e| db_error("moving the tenant's shards", e))?;
                    break;
                }
                // Never abandons the move: dropping `copy` would leave it running on the
                // server over a connection handed back to the pool. A failed grant is logged
                // (db_error) and tried again at the next tick.
                _ = tick.tick(), if moved.online => {
                    let _ = let_subscriptions_apply(&mut conn).await;
                }
            }
        }
        tracing::info!(target: "platform", tenant = %tenant.slug, shard = place.shard_id, from = place.node_id, to = node_id, mode, "tenant moved");
        Ok(moved)
    }
}
