//! The layers point one way: `http → app → schema → domains → graphql → auth → db`, with the
//! shared basics (`error`, `ids`, `config`, `validate`, `telemetry`) usable by all. This reads every
//! `crate::…` path in `src/` (outside comments) and fails on one that points upwards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The domains: folders of model, GraphQL types and loaders.
const DOMAINS: &[&str] = &[
    "api_keys",
    "audit",
    "contacts",
    "conversations",
    "documents",
    "exports",
    "messages",
    "platform",
    "tenancy",
    "usage",
];

/// The rank of a top-level module: it may import modules of its rank or below.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "error" | "ids" | "config" | "validate" | "telemetry" => 0,
        "db" | "apply_keyset" | "text_enum" | "of_tenant" => 1,
        "auth" => 2,
        "graphql" => 3,
        m if DOMAINS.contains(&m) => 4,
        "schema" => 5,
        "app" => 6,
        "http" => 7,
        "cli" | "demo" | "seed" | "lib" | "main" => 8,
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::<module>` or in `crate::{…}` groups,
/// outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        // `$crate::` in macros is the macro's own crate, not a layer.
        if rest[..i].ends_with('$') {
            rest = after;
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            // `crate::{a::b, c}`: each top-level entry of the group.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(after));
        }
        rest = after;
    }
    found.remove("");
    found
}

/// `text` without its inline test modules (`#[cfg(test)] mod … { … }`, which may reach
/// the assembly to test against it) and without out-of-line test module declarations.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            match lines.peek().map(|l| l.trim()) {
                // An inline test module runs to the end of the file, by convention.
                Some(next) if next.starts_with("mod ") && next.ends_with('{') => break,
                Some(next) if next.starts_with("mod ") && next.ends_with(';') => {
                    lines.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every (file, module) import that points upwards.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let own = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a module");
        let Some(own_rank) = rank(&own) else {
            wrong.push(format!("{}: module {own} has no layer", relative.display()));
            continue;
        };
        let text = without_tests(&std::fs::read_to_string(&file).expect("readable"));
        for module in imports(&text) {
            match rank(&module) {
                Some(r) if r <= own_rank => {}
                Some(_) => wrong.push(format!("{}: imports crate::{module}", relative.display())),
                None => wrong.push(format!(
                    "{}: crate::{module} has no layer",
                    relative.display()
                )),
            }
        }
    }
    wrong
}

#[test]
fn layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let wrong = upward_imports(&src);
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let dir = std::env::temp_dir().join(format!("tenantry-layers-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::create_dir_all(dir.join("graphql")).unwrap();
    std::fs::write(
        dir.join("db/keyset.rs"),
        "use crate::graphql::relay::Page;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("graphql/guards.rs"),
        "// crate::contacts in a comment is fine\nfn f() { crate::contacts::model::x(); }\n",
    )
    .unwrap();
    let wrong = upward_imports(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        wrong,
        vec![
            "db/keyset.rs: imports crate::graphql".to_string(),
            "graphql/guards.rs: imports crate::contacts".to_string(),
        ]
    );
}
