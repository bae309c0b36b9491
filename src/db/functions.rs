//! SQL functions the queries call through diesel's DSL, declared once: PostgreSQL's own
//! (`lower`, `coalesce`) and the `app.*` functions the migrations define.

use diesel::sql_types::{Nullable, Text, Timestamptz};

#[diesel::declare_sql_function]
extern "SQL" {
    /// `lower(text)`: emails are unique and matched case-insensitively through the index on
    /// `lower(email)`. (`diesel::dsl::lower` is the range function.)
    fn lower(text: Text) -> Text;

    /// `coalesce` for a timestamp that may already be set: revoking twice keeps the first
    /// revocation's time.
    fn coalesce(first: Nullable<Timestamptz>, otherwise: Timestamptz) -> Timestamptz;

    /// `app.current_user_id()`: the transaction's user as the database knows it (from
    /// `SET LOCAL app.user_id`), not a value a caller passes in.
    #[sql_name = "app.current_user_id"]
    fn current_user_id() -> Nullable<diesel::sql_types::Uuid>;
}
