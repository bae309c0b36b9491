//! Diesel rows and queries of `contacts`. Every query runs inside the request's tenant
//! transaction, so row-level security limits it to the current tenant; the reads also name
//! it ([`crate::of_tenant`]), for routing on a distributed database.

use crate::db::keyset::{KeysetCursor, Page};
use crate::db::schema::contacts;
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A row of `contacts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(Pg))]
pub struct ContactRow {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ContactRow {
    /// The keyset position of this row.
    pub fn cursor(&self) -> KeysetCursor {
        KeysetCursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// A contact to insert; `tenant_id` is filled by the column default from the transaction.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = contacts)]
pub struct NewContact {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
}

/// Changes to a contact: `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = contacts)]
pub struct ContactChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Filters of the contact list.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Case-insensitive substring of name, email or company.
    pub search: Option<String>,
    /// Contacts carrying this tag.
    pub tag: Option<String>,
}

type Boxed<'a> = contacts::BoxedQuery<'a, Pg>;

fn filtered(tenant: TenantId, filter: &ContactFilter) -> Boxed<'static> {
    let mut query = contacts::table
        .filter(crate::of_tenant!(contacts, tenant))
        .into_boxed();
    if let Some(search) = &filter.search {
        let pattern = format!("%{}%", escape_like(search));
        query = query.filter(
            contacts::name
                .ilike(pattern.clone())
                .or(contacts::email.ilike(pattern.clone()))
                .or(contacts::company.ilike(pattern)),
        );
    }
    if let Some(tag) = &filter.tag {
        query = query.filter(contacts::tags.contains(vec![tag.clone()]));
    }
    query
}

/// Escapes LIKE wildcards so a search for `50%` means the text `50%`.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One page of contacts ordered by (created_at, id), plus one probe row.
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn list_contacts(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    filter: &ContactFilter,
    page: &Page,
) -> QueryResult<Vec<ContactRow>> {
    let query = filtered(tenant, filter).select(ContactRow::as_select());
    crate::apply_keyset!(
        query,
        contacts::created_at,
        contacts::id,
        page,
        newest_first = false
    )
    .load(&mut conn)
    .await
}

/// How many contacts match `filter`.
pub async fn count_contacts(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: &ContactFilter,
) -> QueryResult<i64> {
    filtered(tenant, filter).count().get_result(conn).await
}

/// The contact with `id`, if the current tenant has one.
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn get_contact(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> QueryResult<Option<ContactRow>> {
    contacts::table
        .filter(crate::of_tenant!(contacts, tenant))
        .filter(contacts::id.eq(id))
        .select(ContactRow::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// The contacts with these ids (of the current tenant).
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    ids: &[Uuid],
) -> QueryResult<Vec<ContactRow>> {
    contacts::table
        .filter(crate::of_tenant!(contacts, tenant))
        .filter(contacts::id.eq_any(ids))
        .select(ContactRow::as_select())
        .load(conn)
        .await
}

/// Inserts a contact and returns it.
pub async fn insert_contact(
    conn: &mut AsyncPgConnection,
    new: &NewContact,
) -> QueryResult<ContactRow> {
    diesel::insert_into(contacts::table)
        .values(new)
        .returning(ContactRow::as_returning())
        .get_result(conn)
        .await
}

/// Applies `changes` to the contact `id`; `None` if the current tenant has no such contact.
pub async fn update_contact(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
    changes: &ContactChanges,
) -> QueryResult<Option<ContactRow>> {
    let target = contacts::table
        .filter(crate::of_tenant!(contacts, tenant))
        .filter(contacts::id.eq(id));
    diesel::update(target)
        .set(changes)
        .returning(ContactRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes the contact `id`; whether the current tenant had it.
pub async fn delete_contact(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> QueryResult<bool> {
    let target = contacts::table
        .filter(crate::of_tenant!(contacts, tenant))
        .filter(contacts::id.eq(id));
    diesel::delete(target).execute(conn).await.map(|n| n > 0)
}
