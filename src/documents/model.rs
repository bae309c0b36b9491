//! The trusted-document list in PostgreSQL. Platform data read and written on the login
//! role by operator commands and by each server process's reload, never by a request.

use crate::db::schema::trusted_documents;
use crate::db::PgPool;
use crate::error::AppResult;
use crate::graphql::persisted::DocumentHash;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// One trusted document.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = trusted_documents)]
pub struct TrustedDocument {
    /// The SHA-256 of `body`, in hex.
    pub hash: String,
    /// The document's exact text.
    pub body: String,
    /// The operation name the manifest gave it, if any.
    pub name: Option<String>,
    /// When it was added.
    pub added_at: chrono::DateTime<chrono::Utc>,
}

/// The list, on the login role.
#[derive(Clone)]
pub struct DocumentList {
    pool: PgPool,
}

impl DocumentList {
    /// The list in the database of `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Adds documents (name, text), each under the hash of its text; one already listed
    /// is kept. Returns how many were new.
    pub async fn add(&self, documents: &[(Option<String>, String)]) -> AppResult<usize> {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let rows: Vec<_> = documents
            .iter()
            .map(|(name, body)| {
                (
                    trusted_documents::hash.eq(DocumentHash::of(body).hex()),
                    trusted_documents::body.eq(body),
                    trusted_documents::name.eq(name.as_deref()),
                )
            })
            .collect();
        let mut added = 0;
        // A statement per thousand rows keeps the bind parameters under PostgreSQL's limit.
        for chunk in rows.chunks(1000) {
            added += diesel::insert_into(trusted_documents::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await?;
        }
        Ok(added)
    }

    /// Every listed document, oldest first.
    pub async fn all(&self) -> AppResult<Vec<TrustedDocument>> {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        Ok(trusted_documents::table
            .select(TrustedDocument::as_select())
            .order((trusted_documents::added_at, trusted_documents::hash))
            .load(&mut conn)
            .await?)
    }

    /// Removes the document `hash`; whether it was listed.
    pub async fn remove(&self, hash: DocumentHash) -> AppResult<bool> {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let removed = diesel::delete(trusted_documents::table.find(hash.hex()))
            .execute(&mut conn)
            .await?;
        Ok(removed > 0)
    }
}
