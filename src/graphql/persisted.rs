//! Documents by hash: the SHA-256 that names a GraphQL document in Apollo's automatic
//! persisted queries, in trusted-document manifests and in the compiled-plan cache.

use crate::error::{AppError, AppResult, ErrorCode};
use sha2::{Digest, Sha256};

/// The SHA-256 of a document's exact text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentHash(pub [u8; 32]);

impl DocumentHash {
    /// The hash of `text`.
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// Parses the lowercase or uppercase hex form (64 digits).
    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }

    /// The lowercase hex form.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Display for DocumentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// The hash a request names in `extensions.persistedQuery` (Apollo's protocol, version 1),
/// if it names one. A malformed one is BAD_USER_INPUT.
pub fn requested_hash(extensions: &serde_json::Value) -> AppResult<Option<DocumentHash>> {
    let Some(persisted) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    if persisted.get("version").and_then(|v| v.as_i64()) != Some(1) {
        return Err(AppError::new(
            ErrorCode::BadUserInput,
            "persistedQuery: only version 1 is supported",
        ));
    }
    persisted
        .get("sha256Hash")
        .and_then(|h| h.as_str())
        .and_then(DocumentHash::parse)
        .map(Some)
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::BadUserInput,
                "persistedQuery.sha256Hash must be 64 hexadecimal digits",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::DocumentHash;

    #[test]
    fn hex_round_trip() {
        let h = DocumentHash::of("{ __typename }");
        assert_eq!(DocumentHash::parse(&h.hex()), Some(h));
        assert_eq!(DocumentHash::parse(&h.hex().to_uppercase()), Some(h));
        assert_eq!(DocumentHash::parse("zz"), None);
        assert_eq!(
            DocumentHash::of("abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
