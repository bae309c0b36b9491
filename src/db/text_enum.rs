//! One mechanism for the `text` columns that hold an enum (role, plan, status, channel,
//! direction, feature, permission): [`text_enum!`](crate::text_enum) gives the enum its
//! stored forms and diesel's `ToSql`/`FromSql` for `Text`, so rows read typed values and
//! no module writes its own `as_str`/`from_db` pair. The column's CHECK constraint and the
//! enum's stored forms must agree; a stored form the enum does not know is a
//! deserialisation error, never a guess.

/// Declares an enum held in a `text` column, each variant with its stored form:
///
/// ```ignore
/// crate::text_enum! {
///     /// Where a conversation stands.
///     #[derive(async_graphql::Enum)]
///     pub enum ConversationStatus {
///         /// Waiting for the team.
///         Open = "open",
///         /// Done.
///         Closed = "closed",
///     }
/// }
/// ```
///
/// The enum derives `Debug, Clone, Copy, PartialEq, Eq, Hash` and diesel's
/// `AsExpression`/`FromSqlRow` for `Text`, and gets `ALL`, `as_str` (and `Display`),
/// `parse` (case-insensitive, accepting the GraphQL spelling `CONTACTS_WRITE` of
/// `contacts:write`) and diesel's `ToSql`/`FromSql`.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            diesel::expression::AsExpression,
            diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value of a stored form, case-insensitive; `_` may stand for `:`.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| {
                    let text = v.as_str();
                    text.len() == s.len()
                        && text.bytes().zip(s.bytes()).all(|(t, c)| {
                            t.eq_ignore_ascii_case(&c) || (t == b':' && c == b'_')
                        })
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                // The stored forms are exact: compared on the column's bytes, with no
                // `String` per row (a feed page reads hundreds of these).
                let raw = bytes.as_bytes();
                if let Some(value) = Self::ALL.iter().find(|v| v.as_str().as_bytes() == raw) {
                    return Ok(*value);
                }
                let text = std::str::from_utf8(raw)?;
                Self::parse(text).ok_or_else(|| {
                    format!("{:?} is not a stored {}", text, stringify!($name)).into()
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// A test enum.
        enum Sample {
            /// One.
            Plain = "plain",
            /// Two.
            Scoped = "things:write",
        }
    }

    #[test]
    fn stored_forms_round_trip_and_parse_leniently() {
        for v in Sample::ALL {
            assert_eq!(Sample::parse(v.as_str()), Some(*v));
        }
        assert_eq!(Sample::parse("PLAIN"), Some(Sample::Plain));
        assert_eq!(Sample::parse("THINGS_WRITE"), Some(Sample::Scoped));
        assert_eq!(Sample::parse("plain "), None);
        assert_eq!(Sample::parse("things"), None);
        assert_eq!(Sample::Scoped.to_string(), "things:write");
    }
}
