//! Each server process's copy of the trusted-document list, Apollo's automatic persisted
//! queries (APQ), and the rule of `TENANTRY_TRUSTED_DOCUMENTS`.
//!
//! A request names its document by text, by hash (`extensions.persistedQuery`), or both
//! (registering an APQ). [`Documents::resolve`] turns that into the text and its hash, the
//! hash keying compiled plans too. The trusted list lives in PostgreSQL and is copied into
//! memory at start and whenever the `tenantry_documents` channel announces a change, so a
//! request never reads it from the database. APQs are per process and bounded: a client
//! whose hash this process does not know is told `PERSISTED_QUERY_NOT_FOUND` and sends the
//! text once more, as Apollo's protocol expects.

use super::model::DocumentList;
use crate::config::{Config, TrustedDocuments};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::graphql::persisted::DocumentHash;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// What a request's document turned out to be.
#[derive(Debug, Clone, Copy)]
pub struct Resolution {
    /// The hash of its text.
    pub hash: DocumentHash,
    /// Whether it is in the trusted list.
    pub trusted: bool,
}

/// The trusted list and the APQ cache of one process.
pub struct Documents {
    mode: TrustedDocuments,
    max_bytes: usize,
    trusted: RwLock<Arc<HashMap<DocumentHash, Arc<str>>>>,
    apq: moka::sync::Cache<DocumentHash, Arc<str>>,
    /// Untrusted documents already logged under `prefer`.
    reported: moka::sync::Cache<DocumentHash, ()>,
    list: DocumentList,
    loads: AtomicU64,
    /// One reload at a time, so an older read never overwrites a newer one.
    reloading: tokio::sync::Mutex<()>,
}

impl Documents {
    /// An empty store reading its list through `list`; call [`Documents::reload`].
    pub fn new(config: &Config, list: DocumentList) -> Self {
        Self {
            mode: config.trusted_documents,
            max_bytes: config.max_document_bytes,
            trusted: RwLock::default(),
            // Bounded in entries and in bytes (each text weighs its length; at most 64 MiB),
            // whatever the texts' sizes.
            apq: moka::sync::Cache::builder()
                .max_capacity((64 * 1024 * 1024).min(config.apq_cache_entries.saturating_mul(4096)))
                .weigher(|_, text: &Arc<str>| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build(),
            reported: moka::sync::Cache::new(10_000),
            list,
            loads: AtomicU64::new(0),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Copies the trusted list from the database.
    pub async fn reload(&self) -> AppResult<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let rows = self.list.all().await?;
        let map: HashMap<_, _> = rows
            .into_iter()
            .filter_map(|row| Some((DocumentHash::parse(&row.hash)?, Arc::from(row.body))))
            .collect();
        tracing::info!(documents = map.len(), "trusted documents loaded");
        *self.trusted.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        crate::telemetry::metrics::count_invalidation("trusted_documents");
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// How many times the list was loaded (tests wait for a reload with it).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::SeqCst)
    }

    fn trusted_text(&self, hash: &DocumentHash) -> Option<Arc<str>> {
        let map = Arc::clone(&self.trusted.read().unwrap_or_else(|e| e.into_inner()));
        map.get(hash).cloned()
    }

    /// Resolves a request's document: fills in `query` when only its hash was sent
    /// (PERSISTED_QUERY_NOT_FOUND when neither the trusted list nor the APQ cache has it),
    /// checks a sent hash against the text, and registers an APQ.
    pub fn resolve(
        &self,
        query: &mut String,
        requested: Option<DocumentHash>,
    ) -> AppResult<Resolution> {
        let Some(hash) = requested else {
            let hash = DocumentHash::of(query);
            let trusted = self.trusted_text(&hash).is_some();
            return Ok(Resolution { hash, trusted });
        };
        if query.is_empty() {
            if let Some(text) = self.trusted_text(&hash) {
                *query = text.to_string();
                return Ok(Resolution {
                    hash,
                    trusted: true,
                });
            }
            let text = self.apq.get(&hash);
            crate::telemetry::metrics::count_lookup("apq", text.is_some());
            let Some(text) = text else {
                // The exact message is what Apollo's clients look for.
                return Err(AppError::new(
                    ErrorCode::PersistedQueryNotFound,
                    "PersistedQueryNotFound",
                ));
            };
            *query = text.to_string();
            return Ok(Resolution {
                hash,
                trusted: false,
            });
        }
        if DocumentHash::of(query) != hash {
            return Err(AppError::new(
                ErrorCode::BadUserInput,
                "persistedQuery.sha256Hash is not the SHA-256 of the query",
            ));
        }
        let trusted = self.trusted_text(&hash).is_some();
        // Under `require` an untrusted text is refused, so it is not worth remembering;
        // a text over the size limit will be refused too.
        if !trusted && self.mode != TrustedDocuments::Require && query.len() <= self.max_bytes {
            self.apq.insert(hash, Arc::from(query.as_str()));
        }
        Ok(Resolution { hash, trusted })
    }

    /// Whether the document may run under the trusted-documents mode (`prefer` logs each
    /// untrusted document once). Under `require` the caller may still exempt platform
    /// administrators.
    pub fn admits(&self, resolution: &Resolution) -> bool {
        match self.mode {
            _ if resolution.trusted => true,
            TrustedDocuments::Off => true,
            TrustedDocuments::Prefer => {
                if !self.reported.contains_key(&resolution.hash) {
                    self.reported.insert(resolution.hash, ());
                    tracing::warn!(hash = %resolution.hash, "a document not in the trusted list ran (TENANTRY_TRUSTED_DOCUMENTS=prefer)");
                }
                true
            }
            TrustedDocuments::Require => false,
        }
    }

    /// The refusal of a document not in the trusted list.
    pub fn untrusted(resolution: &Resolution) -> AppError {
        AppError::new(
            ErrorCode::DocumentNotTrusted,
            format!(
                "this server runs only trusted documents, and {} is not one",
                resolution.hash
            ),
        )
    }
}
