//! The download of a finished export: `GET /exports/{tenant}/{job}?token=…`, the URL that
//! `exportJob { downloadUrl }` hands out. The token is the credential (a browser download
//! carries no Authorization header): sealed for that tenant and job under the deployment's
//! key, valid until its expiry. Anything else is 404, the same whether the job exists or not.

use crate::app::App;
use crate::ids::TenantId;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// The query string of a download URL.
#[derive(Deserialize)]
pub struct Download {
    token: String,
}

/// Streams the archive of a finished export job.
pub async fn download(
    State(app): State<Arc<App>>,
    Path((tenant, job)): Path<(Uuid, Uuid)>,
    Query(q): Query<Download>,
) -> Response {
    let tenant = TenantId(tenant);
    if !crate::exports::jobs::download_allowed(&app.secrets, tenant, job, &q.token) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = match crate::exports::jobs::finished_file(&app.direct_url, tenant, job).await {
        Ok(Some(path)) => path,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "export download");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let Ok(mut file) = tokio::fs::File::open(&path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Streamed in 64 KiB reads: an archive of any size in constant memory.
    let body = async_stream::stream! {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => yield Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(&buf[..n])),
                Err(e) => { yield Err(e); break; }
            }
        }
    };
    (
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{job}.tenantry\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
