//! Keyset pagination for diesel boxed queries, shared by every list.

/// Applies a [`crate::graphql::relay::Page`] to a boxed query ordered by
/// `(created_at, id)`: the `after`/`before` bounds in the list's natural order
/// (`newest_first` or oldest first), the order (reversed for backward pages, which
/// `Page::finish` restores), and `LIMIT page.limit + 1` to learn whether more rows exist.
#[macro_export]
macro_rules! apply_keyset {
    ($query:expr, $at:expr, $id:expr, $page:expr, newest_first = $newest_first:expr) => {{
        let page: &$crate::graphql::relay::Page = $page;
        let newest_first: bool = $newest_first;
        let mut query = $query;
        // Rows that come after `c` in the natural order.
        if let Some(c) = page.after {
            query = if newest_first {
                query.filter($at.lt(c.at).or($at.eq(c.at).and($id.lt(c.id))))
            } else {
                query.filter($at.gt(c.at).or($at.eq(c.at).and($id.gt(c.id))))
            };
        }
        if let Some(c) = page.before {
            query = if newest_first {
                query.filter($at.gt(c.at).or($at.eq(c.at).and($id.gt(c.id))))
            } else {
                query.filter($at.lt(c.at).or($at.eq(c.at).and($id.lt(c.id))))
            };
        }
        query = if newest_first != page.backward {
            query.order(($at.desc(), $id.desc()))
        } else {
            query.order(($at.asc(), $id.asc()))
        };
        query.limit(page.limit as i64 + 1)
    }};
}
