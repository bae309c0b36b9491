//! The diesel schema is generated, not kept by hand: `src/db/schema.rs` must equal what
//! `diesel print-schema` (with `diesel.toml` and its patch file) prints for the migrated
//! database, so a migration that adds or changes a table fails here until the file is
//! regenerated (`diesel print-schema > src/db/schema.rs` against a migrated database).

use crate::common::TestDb;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The diesel CLI version the schema is generated with.
const DIESEL_CLI: &str = "2.3.6";

/// The diesel CLI: `TENANTRY_DIESEL`, else one installed under `~/.cache/tenantry-tools`
/// (installed there on first use: libpq is bundled, so a fresh machine needs nothing else;
/// it takes some minutes once).
fn diesel_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("TENANTRY_DIESEL") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let root = home.join(".cache/tenantry-tools");
    let binary = root.join("bin/diesel");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(DIESEL_CLI));
    if !installed {
        eprintln!(
            "installing diesel_cli {DIESEL_CLI} into {} (once)",
            root.display()
        );
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "diesel_cli", "--version", DIESEL_CLI, "--locked"])
            .args(["--no-default-features", "--features", "postgres-bundled"])
            .arg("--root")
            .arg(&root)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("cargo install diesel_cli");
        assert!(status.success(), "installing diesel_cli failed");
    }
    binary
}

/// A `postgres://` URL for `conninfo` (diesel needs the URL form to pick its backend).
fn postgres_url(conninfo: &str) -> String {
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        return conninfo.to_string();
    }
    let encode = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut host = String::new();
    let mut user = String::from("postgres");
    let mut dbname = String::new();
    let mut password = None;
    let mut port = None;
    let mut options = Vec::new();
    for pair in conninfo.split_whitespace() {
        match pair.split_once('=') {
            Some(("host", v)) => host = encode(v),
            Some(("user", v)) => user = encode(v),
            Some(("dbname", v)) => dbname = encode(v),
            Some(("password", v)) => password = Some(encode(v)),
            Some(("port", v)) => port = Some(v.to_string()),
            Some((k, v)) => options.push(format!("{k}={}", encode(v))),
            None => {}
        }
    }
    let auth = match password {
        Some(p) => format!("{user}:{p}"),
        None => user,
    };
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let query = if options.is_empty() {
        String::new()
    } else {
        format!("?{}", options.join("&"))
    };
    format!("postgres://{auth}@{host}{port}/{dbname}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_rs_is_what_diesel_prints_for_the_migrations() {
    let db = TestDb::new().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let diesel = tokio::task::spawn_blocking(diesel_cli).await.unwrap();
    let out = Command::new(&diesel)
        .current_dir(root)
        .args([
            "print-schema",
            "--config-file",
            "diesel.toml",
            "--database-url",
        ])
        .arg(postgres_url(&db.url))
        .output()
        .expect("diesel print-schema");
    assert!(
        out.status.success(),
        "diesel print-schema failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let committed = std::fs::read_to_string(root.join("src/db/schema.rs")).expect("schema.rs");
    assert!(
        printed == committed,
        "src/db/schema.rs differs from `diesel print-schema`; regenerate it:\n{}",
        first_difference(&committed, &printed)
    );
}

fn first_difference(a: &str, b: &str) -> String {
    let line = a
        .lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or(a.lines().count().min(b.lines().count()));
    format!(
        "line {}: committed {:?}, printed {:?}",
        line + 1,
        a.lines().nth(line),
        b.lines().nth(line)
    )
}

#[test]
fn conninfo_becomes_a_url() {
    assert_eq!(
        postgres_url("host=/work/x/.tenantry/sock user=postgres dbname=t1"),
        "postgres://postgres@%2Fwork%2Fx%2F.tenantry%2Fsock/t1"
    );
    assert_eq!(postgres_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        postgres_url("host=db.example port=6432 user=app password=p@ss dbname=t sslmode=require"),
        "postgres://app:p%40ss@db.example:6432/t?sslmode=require"
    );
}

/// The pool's connections read the socket through a large buffer (`db::connect`): results
/// much larger than the buffer, and rows that straddle its edges, arrive intact; and a URL
/// the plain path does not take (here `target_session_attrs`) still connects, through
/// tokio-postgres' own connect.
#[tokio::test]
async fn pooled_connections_read_large_results_intact_on_both_connect_paths() {
    use diesel::sql_types::{Integer, Text};
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = Integer)]
        i: i32,
        #[diesel(sql_type = Text)]
        text: String,
    }

    let db = crate::common::TestDb::new().await;
    let other = if db.url.contains("://") {
        let joiner = if db.url.contains('?') { '&' } else { '?' };
        format!("{}{joiner}target_session_attrs=read-write", db.url)
    } else {
        format!("{} target_session_attrs=read-write", db.url)
    };
    for url in [&db.url, &other] {
        let pool = tenantry::db::build_pool(url, 1).unwrap();
        let mut conn = pool.get().await.unwrap();
        // 20,000 rows of 0 to 299 characters (about 3 MB): every buffer edge falls inside
        // some row.
        let lines: Vec<Line> = diesel::sql_query(
            "SELECT i, repeat(chr(65 + i % 26), i % 300) AS text FROM generate_series(1, 20000) i",
        )
        .load(&mut conn)
        .await
        .unwrap();
        assert_eq!(lines.len(), 20_000, "{url}");
        for (n, line) in lines.iter().enumerate() {
            assert_eq!(line.i as usize, n + 1);
            let letter = char::from(b'A' + (line.i % 26) as u8);
            assert_eq!(line.text.len(), (line.i % 300) as usize);
            assert!(line.text.chars().all(|c| c == letter), "row {}", line.i);
        }
        // One value several times the buffer.
        let big: String = diesel::select(diesel::dsl::sql::<Text>("repeat('xyz', 200000)"))
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(big.len(), 600_000);
        assert!(big.as_bytes().chunks(3).all(|c| c == b"xyz"));
    }
}
