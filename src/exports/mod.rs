//! Tenant portability (issue 13): a tenant's rows leave as one consistent, streamed,
//! compressed archive ([`archive`], [`dump`]) and come back whole into any Tenantry database
//! as a new tenant ([`restore`]); [`clone_tenant`] pipes one into the other without a file.
//! Tables are found in the catalog as purge finds them ([`catalog`]). Tenants request
//! exports over GraphQL as background jobs ([`jobs`]; what compiled plans serve of them in
//! `plan.rs`).
//!
//! This is platform-path code: it runs as the login role with `app.tenant_id` set to the one
//! tenant it works on, never on the request path.

pub mod archive;
pub mod catalog;
pub mod dump;
pub mod jobs;
mod plan;
pub mod progress;
pub mod restore;

use crate::tenancy::settings::SecretBox;
use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// The writing end of an in-memory pipe of at most 16 chunks (backpressure, bounded memory).
pub struct PipeWriter(SyncSender<Vec<u8>>);
/// The reading end of [`pipe`].
pub struct PipeReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

/// A bounded pipe between two threads: what [`PipeWriter`] writes, [`PipeReader`] reads.
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(16);
    (
        PipeWriter(tx),
        PipeReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        },
    )
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the import ended"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                // The writer is gone: the end of the stream (a truncated one if the export
                // failed, which the import's framing detects).
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Runs `f` on a thread of its own with a current-thread runtime: export and import do
/// blocking reads and writes between awaits, which must not hold a worker of the caller's
/// runtime (nor wait on each other there, as a clone's two halves would).
pub async fn on_own_thread<T, F, Fut>(f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tenantry-export".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(f()));
            let _ = tx.send(result);
        })?;
    rx.await
        .map_err(|_| anyhow::anyhow!("the export thread panicked"))?
}

/// Clones tenant `slug_or_id` of `from_url` into `to_url` as a new tenant: an export piped
/// into an import, with no file on disk. The import's progress is shown.
pub async fn clone_tenant(
    from_url: &str,
    slug_or_id: &str,
    to_url: &str,
    options: restore::ImportOptions,
    secrets: SecretBox,
    mut progress: Box<dyn progress::Progress>,
) -> anyhow::Result<restore::Imported> {
    let (writer, reader) = pipe();
    let (from, tenant) = (from_url.to_string(), slug_or_id.to_string());
    let exporting = on_own_thread(move || async move {
        dump::export(&from, &tenant, writer, &mut progress::Quiet).await?;
        Ok(())
    });
    let to = to_url.to_string();
    let importing = on_own_thread(move || async move {
        restore::import(&to, reader, &options, &secrets, progress.as_mut()).await
    });
    let (exported, imported) = tokio::join!(exporting, importing);
    // The export's error explains an import that saw a truncated stream.
    exported?;
    imported
}
