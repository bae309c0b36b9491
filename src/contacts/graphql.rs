//! GraphQL types, inputs and roots of contacts.

use super::model::{self, ContactChanges, ContactFilter, ContactRow, NewContact};
use crate::auth::plans::QuotaLimit;
use crate::auth::Role;
use crate::conversations::graphql::{conversation_page, ConversationConnection};
use crate::conversations::model::ConversationFilter;
use crate::db::keyset::{KeysetCursor, Page};
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::guards::requires_role;
use crate::graphql::relay::{decode_typed_id, global_id, wants_rows, PageConnection};
use crate::graphql::{data, request_tx, Limits};
use crate::validate;
use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, ID};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The global-id type name of contacts.
pub const CONTACT_KIND: &str = "Contact";

/// A person in the tenant's CRM.
pub struct Contact(pub ContactRow);

#[Object]
impl Contact {
    /// Opaque global id (usable with `node(id:)`).
    pub async fn id(&self) -> ID {
        global_id(CONTACT_KIND, self.0.id)
    }
    /// Full name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Email address.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Phone number.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// Company the contact works for.
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    /// Lower-case labels.
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// When the contact was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the contact last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The contact's conversations, newest first.
    #[graphql(complexity = "crate::graphql::relay::page_complexity(first, last, child_complexity)")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ConversationConnection> {
        let filter = ConversationFilter {
            contact_id: Some(self.0.id),
            ..Default::default()
        };
        conversation_page(ctx, filter, first, after, last, before).await
    }
}

/// Filters of `contacts`.
#[derive(InputObject, Default)]
pub struct ContactFilterInput {
    /// Case-insensitive text found in the name, email or company.
    pub search: Option<String>,
    /// Only contacts with this tag.
    pub tag: Option<String>,
}

impl ContactFilterInput {
    /// The filter, validated (BAD_USER_INPUT naming the field).
    pub(crate) fn validate(self) -> Result<ContactFilter, AppError> {
        Ok(ContactFilter {
            search: validate::optional_text("filter.search", self.search.as_deref(), 200)?,
            tag: self
                .tag
                .map(|t| validate::tag("filter.tag", &t))
                .transpose()?,
        })
    }
}

/// Extra fields of the contact connection.
pub struct ContactConnectionFields {
    filter: ContactFilter,
}

#[Object]
impl ContactConnectionFields {
    /// How many contacts match the filter (computed only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let filter = self.filter.clone();
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| {
            async move { model::count_contacts(c, tenant, &filter).await }.scope_boxed()
        })
        .await
        .gql()
    }
}

/// A page of contacts.
pub type ContactConnection = Connection<KeysetCursor, Contact, ContactConnectionFields>;

/// Contact queries.
#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    /// The tenant's contacts, oldest first, as a Relay connection.
    #[graphql(
        directive = requires_role::apply(Role::Viewer),
        complexity = "crate::graphql::relay::page_complexity(first, last, child_complexity)"
    )]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ContactFilterInput>,
    ) -> Result<ContactConnection> {
        let limits = data::<Limits>(ctx)?;
        let page = Page::from_args(first, after, last, before, limits.max_page_size).gql()?;
        let filter = filter.unwrap_or_default().validate().gql()?;
        let rows = if wants_rows(ctx) {
            let query_filter = filter.clone();
            let query_page = page.clone();
            let tx = request_tx(ctx)?;
            let tenant = tx.tenant().await.gql()?;
            tx.run(move |c| {
                async move { model::list_contacts(c, tenant, &query_filter, &query_page).await }
                    .scope_boxed()
            })
            .await
            .gql()?
        } else {
            Vec::new()
        };
        Ok(
            page.connection(rows, ContactConnectionFields { filter }, |row| {
                (row.cursor(), Contact(row))
            }),
        )
    }

    /// One contact by global id; another tenant's contact is NOT_FOUND.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Contact> {
        let id = decode_typed_id(&id, CONTACT_KIND, "id").gql()?;
        find_contact(ctx, id).await
    }
}

/// Loads a contact of the current tenant or fails with NOT_FOUND.
pub async fn find_contact(ctx: &Context<'_>, id: Uuid) -> Result<Contact> {
    let tx = request_tx(ctx)?;
    let tenant = tx.tenant().await.gql()?;
    tx.run(move |c| async move { model::get_contact(c, tenant, id).await }.scope_boxed())
        .await
        .gql()?
        .map(Contact)
        .ok_or_else(|| AppError::not_found("contact").into_graphql())
}

/// Input of `createContact`.
#[derive(InputObject)]
pub struct CreateContactInput {
    /// Full name (1 to 200 characters).
    pub name: String,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Company (up to 200 characters).
    pub company: Option<String>,
    /// Up to 20 tags of a-z, 0-9, - _ :.
    #[graphql(default)]
    pub tags: Vec<String>,
}

impl CreateContactInput {
    fn validate(self) -> Result<NewContact, AppError> {
        Ok(NewContact {
            id: Uuid::now_v7(),
            name: validate::required_text("name", &self.name, 200)?,
            email: validate::optional_email("email", self.email.as_deref())?,
            phone: validate::optional_phone("phone", self.phone.as_deref())?,
            company: validate::optional_text("company", self.company.as_deref(), 200)?,
            tags: validate::tags("tags", &self.tags)?,
        })
    }
}

/// Input of `updateContact`: a field left out is unchanged; `null` clears an optional one.
#[derive(InputObject)]
pub struct UpdateContactInput {
    /// New name.
    pub name: MaybeUndefined<String>,
    /// New email address, or null to clear it.
    pub email: MaybeUndefined<String>,
    /// New phone number, or null to clear it.
    pub phone: MaybeUndefined<String>,
    /// New company, or null to clear it.
    pub company: MaybeUndefined<String>,
    /// New tags (replace the old ones), or null to clear them.
    pub tags: MaybeUndefined<Vec<String>>,
}

/// Validates a clearable field: undefined = unchanged, null or empty = clear.
fn clearable<F>(value: MaybeUndefined<String>, check: F) -> Result<Option<Option<String>>, AppError>
where
    F: FnOnce(Option<&str>) -> Result<Option<String>, AppError>,
{
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => check(Some(&v)).map(Some),
    }
}

impl UpdateContactInput {
    fn validate(self) -> Result<ContactChanges, AppError> {
        let name = match self.name {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => return Err(AppError::bad_input("name", "must not be null")),
            MaybeUndefined::Value(v) => Some(validate::required_text("name", &v, 200)?),
        };
        let tags = match self.tags {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(Vec::new()),
            MaybeUndefined::Value(v) => Some(validate::tags("tags", &v)?),
        };
        let changes = ContactChanges {
            name,
            email: clearable(self.email, |v| validate::optional_email("email", v))?,
            phone: clearable(self.phone, |v| validate::optional_phone("phone", v))?,
            company: clearable(self.company, |v| validate::optional_text("company", v, 200))?,
            tags,
            updated_at: Some(Utc::now()),
        };
        Ok(changes)
    }
}

/// Contact mutations.
#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    /// Creates a contact in the current tenant.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> Result<Contact> {
        let new = input.validate().gql()?;
        let tx = request_tx(ctx)?;
        let member = tx.member().await.gql()?;
        let (limit, tenant) = (member.plan.quotas().contacts, member.tenant_id);
        let created = tx
            .run(move |c| {
                async move {
                    // The plan's quota, counted inside the same transaction as the insert.
                    if limit.is_some() {
                        let used =
                            model::count_contacts(c, tenant, &ContactFilter::default()).await?;
                        if !limit.has_room_for_one(used) {
                            return Ok(None);
                        }
                    }
                    model::insert_contact(c, &new).await.map(Some)
                }
                .scope_boxed()
            })
            .await
            .gql()?;
        created.map(Contact).ok_or_else(|| {
            AppError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the contacts quota of {} is reached for this plan",
                    limit.unwrap_or_default()
                ),
            )
            .into_graphql()
        })
    }

    /// Changes a contact; another tenant's contact is NOT_FOUND.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateContactInput,
    ) -> Result<Contact> {
        let id = decode_typed_id(&id, CONTACT_KIND, "id").gql()?;
        let changes = input.validate().gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| {
            async move { model::update_contact(c, tenant, id, &changes).await }.scope_boxed()
        })
        .await
        .gql()?
        .map(Contact)
        .ok_or_else(|| AppError::not_found("contact").into_graphql())
    }

    /// Deletes a contact and returns its id; another tenant's contact is NOT_FOUND.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let raw = decode_typed_id(&id, CONTACT_KIND, "id").gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        let deleted = tx
            .run(move |c| async move { model::delete_contact(c, tenant, raw).await }.scope_boxed())
            .await
            .gql()?;
        if deleted {
            Ok(id)
        } else {
            Err(AppError::not_found("contact").into_graphql())
        }
    }
}

/// Live contacts.
#[derive(Default)]
pub struct ContactSubscription;

#[async_graphql::Subscription]
impl ContactSubscription {
    /// Contacts created or changed in the tenant, as they are committed.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn contact_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl futures_util::Stream<Item = Result<Contact>>> {
        use futures_util::StreamExt;
        let opened = crate::graphql::live::open(ctx, Role::Viewer).await?;
        let wanted = crate::graphql::live::Wanted {
            table: "contacts",
            changes: &["created", "updated"],
            role: Role::Viewer,
            filter: Box::new(|_: &ContactRow| true),
        };
        Ok(crate::graphql::live::subscribe(opened, wanted).map(|c| c.map(Contact)))
    }
}
