//! The operator's CLI, run as the built binary against a test database: each subcommand
//! prints one plain line a script can use, and the tenant lifecycle commands do what they
//! say in the database.

use crate::common::{client, TestDb};
use std::process::Command;

/// Runs `tenantry args…` on `db`; returns its one line of output (fails on a non-zero exit).
fn tenantry(db: &TestDb, home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("TENANTRY_HOME", home)
        .env("TENANTRY_JWT_SECRET", "cli-test-secret-cli-test-secret-!!")
        .env("RUST_LOG", "error")
        .output()
        .expect("run tenantry");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "tenantry {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one line expected: {stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_tenants_users_and_tokens() {
    let db = TestDb::new().await;
    let home = std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4()));
    let run = |args: &[&str]| tenantry(&db, &home, args);

    assert_eq!(run(&["migrate"]), "migrations applied");
    let tenant = run(&["tenant", "create", "--slug", "acme", "--name", "Acme"]);
    uuid::Uuid::parse_str(&tenant).expect("a tenant id");
    let user = run(&[
        "user",
        "create",
        "--email",
        "ann@acme.test",
        "--tenant",
        "acme",
        "--role",
        "OWNER",
    ]);
    uuid::Uuid::parse_str(&user).expect("a user id");
    let token = run(&[
        "token",
        "--user",
        "ann@acme.test",
        "--tenant",
        "acme",
        "--ttl",
        "1h",
    ]);
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert!(run(&["schema", "--check"]).contains("up to date"));

    let c = client(&db.url).await;
    assert_eq!(run(&["tenant", "suspend", "acme"]), "acme suspended");
    assert_eq!(status(&c).await, "suspended");
    assert_eq!(run(&["tenant", "reactivate", "acme"]), "acme active");
    assert_eq!(status(&c).await, "active");
    assert_eq!(run(&["tenant", "delete", "acme"]), "acme deleted");
    assert_eq!(status(&c).await, "deleted");
    assert!(run(&["tenant", "purge", "acme"]).starts_with("acme purged:"));
    let left: i64 = c
        .query_one("SELECT count(*) FROM tenants WHERE slug = 'acme'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let _ = std::fs::remove_dir_all(home);
}

async fn status(c: &tokio_postgres::Client) -> String {
    c.query_one("SELECT status FROM tenants WHERE slug = 'acme'", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_count_is_a_setting_and_zero_is_refused() {
    let db = TestDb::new().await;
    let home = std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4()));
    let with_workers = |n: &str| {
        Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .env("TENANTRY_HOME", &home)
            .env("TENANTRY_WORKER_THREADS", n)
            .env("TENANTRY_LOG_FORMAT", "json")
            .env("RUST_LOG", "tenantry=debug")
            .output()
            .expect("run tenantry")
    };
    let one = with_workers("1");
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&one.stdout).trim(),
        "migrations applied"
    );
    // The runtime it ran in had the one worker asked for (and three, when asked).
    let log = String::from_utf8_lossy(&one.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("runtime started") && l.contains(r#""workers":1"#)),
        "{log}"
    );
    let three = with_workers("3");
    let log = String::from_utf8_lossy(&three.stderr);
    assert!(log.contains(r#""workers":3"#), "{log}");
    let zero = with_workers("0");
    assert!(!zero.status.success(), "0 workers accepted");
    let message = String::from_utf8_lossy(&zero.stderr);
    assert!(
        message.contains("--worker-threads") && message.contains("zero"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(home);
}
