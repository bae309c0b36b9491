//! Reading trusted documents from the files client build tools emit:
//!
//! - Apollo's persisted-query manifest (`generate-persisted-query-manifest`):
//!   `{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id",
//!   "name", "type", "body"}]}`;
//! - a JSON object from id to text, as Relay's `persistConfig` and graphql-codegen's
//!   client preset (`persisted-documents.json`) write it;
//! - any other file is one GraphQL document (`.graphql`, `.gql`).
//!
//! Documents are always stored under the SHA-256 of their text. An id in a manifest that
//! is a SHA-256 must be that hash (else the file is refused); other ids (Relay's MD5 by
//! default) are ignored, so configure those tools to hash with SHA-256 for their clients'
//! hashes to match.

use crate::graphql::persisted::DocumentHash;
use anyhow::{bail, Context};

/// The documents (operation name if known, text) of the file `path` whose contents are
/// `text`.
pub fn read(path: &str, text: &str) -> anyhow::Result<Vec<(Option<String>, String)>> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') || path.ends_with(".graphql") || path.ends_with(".gql") {
        return Ok(vec![(None, text.to_string())]);
    }
    let json: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("{path}: not valid JSON"))?;
    let mut out = Vec::new();
    if json.get("format").and_then(|f| f.as_str()) == Some("apollo-persisted-query-manifest") {
        let operations = json
            .get("operations")
            .and_then(|o| o.as_array())
            .with_context(|| format!("{path}: an Apollo manifest without `operations`"))?;
        for operation in operations {
            let body = operation
                .get("body")
                .and_then(|b| b.as_str())
                .with_context(|| format!("{path}: an operation without `body`"))?;
            let id = operation.get("id").and_then(|i| i.as_str()).unwrap_or("");
            check_id(path, id, body)?;
            let name = operation
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string);
            out.push((name, body.to_string()));
        }
        return Ok(out);
    }
    let Some(map) = json.as_object() else {
        bail!("{path}: expected an Apollo manifest or an object from id to document");
    };
    for (id, body) in map {
        let Some(body) = body.as_str() else {
            bail!("{path}: the value of {id:?} is not a document text");
        };
        check_id(path, id, body)?;
        out.push((None, body.to_string()));
    }
    Ok(out)
}

/// Refuses a manifest whose SHA-256 id is not the hash of its document (a client would
/// send that id and never match).
fn check_id(path: &str, id: &str, body: &str) -> anyhow::Result<()> {
    if let Some(given) = DocumentHash::parse(id) {
        let actual = DocumentHash::of(body);
        if given != actual {
            bail!("{path}: id {id} is not the SHA-256 of its document ({actual})");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::read;
    use crate::graphql::persisted::DocumentHash;

    #[test]
    fn every_format() {
        let doc = "query Q { me { role } }";
        let hash = DocumentHash::of(doc).hex();
        let apollo = serde_json::json!({
            "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": hash, "name": "Q", "type": "query", "body": doc}]
        });
        let read_apollo = read("m.json", &apollo.to_string()).unwrap();
        assert_eq!(read_apollo, vec![(Some("Q".into()), doc.to_string())]);
        let map =
            serde_json::json!({ hash.clone(): doc, "d41d8cd98f00b204e9800998ecf8427e": "{ a }" });
        assert_eq!(
            read("persisted-documents.json", &map.to_string())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            read("q.graphql", doc).unwrap(),
            vec![(None, doc.to_string())]
        );
        let wrong = serde_json::json!({ hash: "{ other }" });
        assert!(read("bad.json", &wrong.to_string()).is_err());
    }
}
