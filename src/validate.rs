//! Input validation shared by every domain: checked before anything reaches SQL, with
//! BAD_USER_INPUT errors that name the field.

use crate::error::{AppError, AppResult};

/// A required text: trimmed, not empty, at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    optional_text(field, Some(value), max).map(|v| v.unwrap_or_default())
}

/// An optional text: trimmed; empty means none; at most `max` characters; no control
/// characters.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    checked_text(field, value, max, char::is_control)
}

/// A required text of several lines (a message body): like [`required_text`], but line
/// breaks and tabs are kept.
pub fn required_lines(field: &str, value: &str, max: usize) -> AppResult<String> {
    let refused = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    checked_text(field, Some(value), max, refused)?
        .ok_or_else(|| AppError::bad_input(field, "must not be empty"))
}

fn checked_text(
    field: &str,
    value: Option<&str>,
    max: usize,
    refused: impl Fn(char) -> bool,
) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(refused) {
        return Err(AppError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_string()))
}

/// An optional email address: `local@domain.tld` syntax, at most 254 characters, stored
/// with a lower-cased domain.
pub fn optional_email(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    let Some(value) = optional_text(field, value, 254)? else {
        return Ok(None);
    };
    let invalid = || AppError::bad_input(field, "is not a valid email address");
    let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains(char::is_whitespace)
        && !local.contains('@');
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if !local_ok || !domain_ok {
        return Err(invalid());
    }
    Ok(Some(format!("{local}@{}", domain.to_lowercase())))
}

/// An optional phone number: digits with `+ - ( ) .` and spaces, 3 to 50 characters.
pub fn optional_phone(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    let Some(value) = optional_text(field, value, 50)? else {
        return Ok(None);
    };
    let ok = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && value.chars().filter(char::is_ascii_digit).count() >= 3;
    if !ok {
        return Err(AppError::bad_input(
            field,
            "must be a phone number (digits, spaces and + - ( ) .)",
        ));
    }
    Ok(Some(value))
}

/// Tags: at most 20, each 1 to 40 characters of `a-z 0-9 - _ :`, lower-cased, without
/// duplicates, order kept.
pub fn tags(field: &str, values: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        out.push(tag(field, value)?);
    }
    out.dedup();
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    if out.len() > 20 {
        return Err(AppError::bad_input(field, "at most 20 tags"));
    }
    Ok(out)
}

/// One tag, as in [`tags`].
pub fn tag(field: &str, value: &str) -> AppResult<String> {
    let t = value.trim().to_lowercase();
    let ok = !t.is_empty()
        && t.len() <= 40
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_:".contains(c));
    if !ok {
        return Err(AppError::bad_input(
            field,
            format!("tag {t:?} must be 1 to 40 characters of a-z, 0-9, - _ :"),
        ));
    }
    Ok(t)
}

/// Validates a tenant slug: 1 to 63 of a-z 0-9 and inner dashes.
pub fn validate_slug(slug: &str) -> AppResult<String> {
    let s = slug.trim().to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(AppError::bad_input(
            "slug",
            "must be 1 to 63 characters of a-z, 0-9 and inner dashes",
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            optional_email("email", Some(" Ann@Example.COM ")).unwrap(),
            Some("Ann@example.com".to_string())
        );
        assert_eq!(optional_email("email", Some("")).unwrap(), None);
        for bad in [
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "ann@x..com",
            "ann@.x.com",
        ] {
            let err = optional_email("email", Some(bad)).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("email"), "{bad}");
        }
    }

    #[test]
    fn tags_are_normalised_and_limited() {
        let t = tags("tags", &["VIP".into(), "vip".into(), "lead".into()]).unwrap();
        assert_eq!(t, vec!["vip", "lead"]);
        assert!(tags("tags", &["no spaces".into()]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(tags("tags", &many).is_err());
    }

    #[test]
    fn texts() {
        assert!(required_text("name", "  ", 10).is_err());
        assert!(required_text("name", "abcdefghijk", 10).is_err());
        assert_eq!(required_text("name", " Ann ", 10).unwrap(), "Ann");
        assert!(optional_phone("phone", Some("+1 (555) 010-0000"))
            .unwrap()
            .is_some());
        assert!(optional_phone("phone", Some("call me")).is_err());
    }
}
