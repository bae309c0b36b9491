//! Export jobs: a tenant asks over GraphQL (`requestExport`, feature `data_export`,
//! permission `tenant:manage`) and follows the job (`exportJob(id)`); a background worker
//! of the server writes the archive to `TENANTRY_EXPORT_DIR` and the tenant downloads it
//! from a URL that works for `TENANTRY_EXPORT_URL_TTL_SECS`.
//!
//! The job's state is in `export_jobs` (a tenant table, forced RLS) and its queue entry in
//! `export_queue` (platform). A worker takes an entry with `FOR UPDATE SKIP LOCKED` and
//! holds that lock while it runs the job, on a connection of its own: if the process dies,
//! the lock goes with it and the next worker (after a restart) runs the job again. At most
//! `TENANTRY_EXPORT_CONCURRENCY` jobs run per process, each on its own thread, so requests
//! never wait for one. The worker is platform-path code (login role, `app.tenant_id` set to
//! the job's tenant); the resolvers use only the request transaction.

use super::catalog;
use super::progress::Counters;
use crate::auth::plans::{Feature, Permission};
use crate::db::schema::{export_jobs, export_queue};
use crate::error::{AppError, GqlResultExt};
use crate::graphql::guards::{requires_feature, requires_permission};
use crate::graphql::relay::{decode_typed_id, global_id};
use crate::graphql::request_tx;
use crate::ids::TenantId;
use crate::tenancy::settings::SecretBox;
use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use scoped_futures::ScopedFutureExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

/// The global-id type name of export jobs.
pub const EXPORT_JOB_KIND: &str = "ExportJob";

/// Where archives go and how long their URLs work (schema data).
#[derive(Clone, Debug)]
pub struct ExportSettings {
    /// The folder of archives (`TENANTRY_EXPORT_DIR`).
    pub dir: PathBuf,
    /// Lifetime of a download URL.
    pub url_ttl: Duration,
}

/// An export job's row.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = export_jobs)]
pub struct ExportJobRow {
    /// Job id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// queued, running, done, failed.
    pub status: String,
    /// Rows to export.
    pub total_rows: i64,
    /// Rows exported so far.
    pub rows_done: i64,
    /// Bytes of rows exported so far.
    pub bytes_done: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where an export job is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExportStatus {
    /// Waiting for a worker.
    Queued,
    /// Being written.
    Running,
    /// Ready to download.
    Done,
    /// Failed (see `error`).
    Failed,
}

/// An export of the tenant's data.
pub struct ExportJob {
    pub(super) row: ExportJobRow,
    /// Once done: its download path and when that stops working.
    pub(super) download: Option<(String, DateTime<Utc>)>,
}

impl ExportJobRow {
    /// Where the job is.
    pub fn status(&self) -> ExportStatus {
        match self.status.as_str() {
            "running" => ExportStatus::Running,
            "done" => ExportStatus::Done,
            "failed" => ExportStatus::Failed,
            _ => ExportStatus::Queued,
        }
    }

    /// Fraction done, 0 to 1.
    pub fn progress(&self) -> f64 {
        match self.status.as_str() {
            "done" => 1.0,
            _ if self.total_rows > 0 => (self.rows_done as f64 / self.total_rows as f64).min(1.0),
            _ => 0.0,
        }
    }
}

#[Object]
impl ExportJob {
    /// Opaque global id.
    async fn id(&self) -> ID {
        global_id(EXPORT_JOB_KIND, self.row.id)
    }
    /// Where it is.
    async fn status(&self) -> ExportStatus {
        self.row.status()
    }
    /// Fraction done, 0 to 1.
    async fn progress(&self) -> f64 {
        self.row.progress()
    }
    /// Rows exported so far.
    async fn rows(&self) -> i64 {
        self.row.rows_done
    }
    /// Bytes of rows exported so far (before compression).
    async fn bytes(&self) -> i64 {
        self.row.bytes_done
    }
    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.row.error.as_deref()
    }
    /// When it was requested.
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    /// When it finished.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.row.finished_at
    }
    /// Once done: a path (on this server) that downloads the archive without other
    /// credentials until `downloadExpiresAt`; ask again for a fresh one.
    async fn download_url(&self) -> Option<&str> {
        self.download.as_ref().map(|(u, _)| u.as_str())
    }
    /// When `downloadUrl` stops working.
    async fn download_expires_at(&self) -> Option<DateTime<Utc>> {
        self.download.as_ref().map(|(_, at)| *at)
    }
}

fn job(row: ExportJobRow, ctx: &Context<'_>) -> Result<ExportJob> {
    let secrets = crate::graphql::data::<SecretBox>(ctx)?;
    let settings = crate::graphql::data::<ExportSettings>(ctx)?;
    ExportJob::of(row, secrets, settings).gql()
}

impl ExportJob {
    /// The job of `row`; once done, with a download path signed now, working for the
    /// settings' URL lifetime.
    pub fn of(
        row: ExportJobRow,
        secrets: &SecretBox,
        settings: &ExportSettings,
    ) -> crate::error::AppResult<Self> {
        let download = if row.status == "done" {
            let ttl = chrono::Duration::from_std(settings.url_ttl);
            let expires = Utc::now() + ttl.unwrap_or(chrono::Duration::zero());
            let token = download_token(secrets, TenantId(row.tenant_id), row.id, expires)?;
            Some((
                format!("/exports/{}/{}?token={token}", row.tenant_id, row.id),
                expires,
            ))
        } else {
            None
        };
        Ok(ExportJob { row, download })
    }
}

/// The export job `id` of `tenant` (named as well as through RLS, so Citus routes the read
/// to the tenant's node), if it is one of the tenant's.
pub async fn get_job(
    c: &mut diesel_async::AsyncPgConnection,
    tenant: Uuid,
    id: Uuid,
) -> QueryResult<Option<ExportJobRow>> {
    export_jobs::table
        .filter(export_jobs::tenant_id.eq(tenant))
        .filter(export_jobs::id.eq(id))
        .select(ExportJobRow::as_select())
        .first(c)
        .await
        .optional()
}

/// A download token: `job:expiry` sealed for the tenant (authenticated encryption under the
/// deployment's secret key, the tenant id as associated data), URL-safe.
pub fn download_token(
    secrets: &SecretBox,
    tenant: TenantId,
    job: Uuid,
    expires: DateTime<Utc>,
) -> crate::error::AppResult<String> {
    let sealed = secrets.seal(tenant, &format!("export:{job}:{}", expires.timestamp()))?;
    Ok(sealed.replace('+', "-").replace('/', "_").replace('=', "."))
}

/// Whether `token` downloads `job` of `tenant` now.
pub fn download_allowed(secrets: &SecretBox, tenant: TenantId, job: Uuid, token: &str) -> bool {
    let sealed = token.replace('-', "+").replace('_', "/").replace('.', "=");
    let Ok(plain) = secrets.open(tenant, &sealed) else {
        return false;
    };
    let mut parts = plain.split(':');
    matches!(
        (parts.next(), parts.next().map(Uuid::parse_str), parts.next().and_then(|s| s.parse::<i64>().ok())),
        (Some("export"), Some(Ok(j)), Some(exp)) if j == job && exp > Utc::now().timestamp()
    )
}

/// The archive of a finished job, if there is one (platform path).
pub async fn finished_file(
    url: &str,
    tenant: TenantId,
    job: Uuid,
) -> anyhow::Result<Option<PathBuf>> {
    let mut client = catalog::connect(url).await?;
    let tx = client.transaction().await?;
    tx.batch_execute(&format!("SET LOCAL app.tenant_id = '{}'", tenant.0))
        .await?;
    let row = tx
        .query_opt(
            "SELECT file FROM export_jobs WHERE tenant_id = $1 AND id = $2 AND status = 'done'",
            &[&tenant.0, &job],
        )
        .await?;
    Ok(row
        .and_then(|r| r.get::<_, Option<String>>(0))
        .map(PathBuf::from))
}

/// Export queries.
#[derive(Default)]
pub struct ExportQuery;

#[Object]
impl ExportQuery {
    /// An export job of the tenant; another tenant's is NOT_FOUND.
    #[graphql(
        directive = requires_feature::apply(Feature::DataExport),
        directive = requires_permission::apply(Permission::TenantManage)
    )]
    async fn export_job(&self, ctx: &Context<'_>, id: ID) -> Result<ExportJob> {
        let id = decode_typed_id(&id, EXPORT_JOB_KIND, "id").gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?.0;
        let row = tx
            .run(move |c| async move { get_job(c, tenant, id).await }.scope_boxed())
            .await
            .gql()?
            .ok_or_else(|| AppError::not_found(EXPORT_JOB_KIND).into_graphql())?;
        job(row, ctx)
    }
}

/// Export mutations.
#[derive(Default)]
pub struct ExportMutation;

#[Object]
impl ExportMutation {
    /// Starts an export of all the tenant's data; follow it with `exportJob(id)`.
    #[graphql(
        directive = requires_feature::apply(Feature::DataExport),
        directive = requires_permission::apply(Permission::TenantManage)
    )]
    async fn request_export(&self, ctx: &Context<'_>) -> Result<ExportJob> {
        let tx = request_tx(ctx)?;
        let member = tx.member().await.gql()?;
        let (tenant, user) = (member.tenant_id.0, member.user_id.0);
        let id = Uuid::now_v7();
        let row = tx
            .run(move |c| {
                async move {
                    let row = diesel::insert_into(export_jobs::table)
                        .values((
                            export_jobs::tenant_id.eq(tenant),
                            export_jobs::id.eq(id),
                            export_jobs::requested_by.eq(user),
                        ))
                        .returning(ExportJobRow::as_returning())
                        .get_result(c)
                        .await?;
                    diesel::insert_into(export_queue::table)
                        .values((export_queue::job_id.eq(id), export_queue::tenant.eq(tenant)))
                        .execute(c)
                        .await?;
                    Ok::<_, diesel::result::Error>(row)
                }
                .scope_boxed()
            })
            .await
            .gql()?;
        job(row, ctx)
    }
}

/// Runs export jobs in the background until the process ends: wakes on `wake` (the
/// `tenantry_exports` NOTIFY) or every few seconds, at most `concurrency` jobs at once.
pub fn spawn_worker(
    url: String,
    dir: PathBuf,
    concurrency: usize,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            match claim(&url).await {
                Ok(Some((claim, job, tenant))) => {
                    let (url, dir) = (url.clone(), dir.clone());
                    tokio::spawn(async move {
                        run(&url, &dir, claim, job, tenant).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "export worker: claiming a job");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    })
}

/// Takes the oldest unclaimed queue entry: its connection holds the row lock in an open
/// transaction until [`run`] ends it.
async fn claim(url: &str) -> anyhow::Result<Option<(tokio_postgres::Client, Uuid, Uuid)>> {
    let client = catalog::connect(url).await?;
    client.batch_execute("BEGIN").await?;
    let row = client
        .query_opt(
            "SELECT job_id, tenant FROM export_queue ORDER BY queued_at
              FOR UPDATE SKIP LOCKED LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| (client, r.get(0), r.get(1))))
}

async fn run(
    url: &str,
    dir: &std::path::Path,
    claim: tokio_postgres::Client,
    job: Uuid,
    tenant: Uuid,
) {
    let result = run_job(url, dir, job, tenant).await;
    let outcome = async {
        let state = catalog::connect(url).await?;
        let (status, error, file) = match &result {
            Ok(path) => ("done", None, Some(path.display().to_string())),
            Err(e) => {
                tracing::warn!(target: "platform", tenant_id = %tenant, job = %job, error = %format!("{e:#}"), "export job failed");
                // The tenant sees a plain reason; the detail (which may name the database)
                // is in the operator's log.
                (
                    "failed",
                    Some("the export failed; the operator's log has the reason".to_string()),
                    None,
                )
            }
        };
        update(
            &state,
            tenant,
            job,
            &format!("status = '{status}', finished_at = now(), error = $3, file = $4"),
            &[&error, &file],
        )
        .await?;
        tokio_postgres::Client::execute(
            &claim,
            "DELETE FROM export_queue WHERE job_id = $1",
            &[&job],
        )
        .await?;
        claim.batch_execute("COMMIT").await?;
        anyhow::Ok(())
    };
    if let Err(e) = outcome.await {
        tracing::warn!(error = %e, job = %job, "export worker: finishing a job");
    }
}

async fn update(
    c: &tokio_postgres::Client,
    tenant: Uuid,
    job: Uuid,
    set: &str,
    extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> anyhow::Result<()> {
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&tenant, &job];
    params.extend_from_slice(extra);
    // The SET LOCAL in a batch of its own: Citus hands it to the workers by re-running the
    // text of the whole batch.
    // Whatever fails after BEGIN ends in ROLLBACK: the worker's connection is used again.
    c.batch_execute("BEGIN").await?;
    let sql = format!("UPDATE export_jobs SET {set} WHERE tenant_id = $1 AND id = $2");
    let result = async {
        c.batch_execute(&format!("SET LOCAL app.tenant_id = '{tenant}'"))
            .await?;
        tokio_postgres::Client::execute(c, &sql, &params).await
    }
    .await;
    c.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .await?;
    result?;
    Ok(())
}

async fn run_job(
    url: &str,
    dir: &std::path::Path,
    job: Uuid,
    tenant: Uuid,
) -> anyhow::Result<PathBuf> {
    let state = catalog::connect(url).await?;
    update(
        &state,
        tenant,
        job,
        "status = 'running', started_at = now(), rows_done = 0, bytes_done = 0, error = NULL",
        &[],
    )
    .await?;
    let folder = dir.join(tenant.to_string());
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{job}.tenantry"));
    let part = folder.join(format!("{job}.tenantry.part"));
    let counters = Counters::default();
    let export = {
        let (url, part, mut counters) = (url.to_string(), part.clone(), counters.clone());
        super::on_own_thread(move || async move {
            let file = std::io::BufWriter::new(std::fs::File::create(&part)?);
            let (_, out) =
                super::dump::export(&url, &tenant.to_string(), file, &mut counters).await?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(())
        })
    };
    tokio::pin!(export);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        tokio::select! {
            r = &mut export => break r,
            _ = tick.tick() => {
                let (total, rows, bytes) = (
                    counters.total.as_ref().load(Ordering::Relaxed) as i64,
                    counters.rows.as_ref().load(Ordering::Relaxed) as i64,
                    counters.bytes.as_ref().load(Ordering::Relaxed) as i64,
                );
                let _ = update(&state, tenant, job, "total_rows = $3, rows_done = $4, bytes_done = $5", &[&total, &rows, &bytes]).await;
            }
        }
    };
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &path)?;
    let (total, rows, bytes) = (
        counters.total.as_ref().load(Ordering::Relaxed) as i64,
        counters.rows.as_ref().load(Ordering::Relaxed) as i64,
        counters.bytes.as_ref().load(Ordering::Relaxed) as i64,
    );
    update(
        &state,
        tenant,
        job,
        "total_rows = $3, rows_done = $4, bytes_done = $5",
        &[&total, &rows, &bytes],
    )
    .await?;
    Ok(path)
}
