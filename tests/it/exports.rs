//! Tenant portability (issue 13): export → import into another database → export again
//! gives the same rows; tables come from the catalog; memory stays bounded; corrupted or
//! hand-edited archives are refused with nothing written; clone, over the CLI.

use crate::common::{client, exec, Reply, TestApp, TestDb};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;
use tenantry::exports::archive::{ArchiveReader, ArchiveWriter, Frame, Header};
use tenantry::exports::progress::Quiet;
use tenantry::exports::restore::{import, ImportOptions};
use tenantry::exports::{dump, on_own_thread};
use tenantry::tenancy::settings::SecretBox;

const SECRET: &str = "whsec-do-not-leak-0123456789";

/// An archive's header and per-table COPY text.
fn read_archive(bytes: &[u8]) -> (Header, BTreeMap<String, Vec<u8>>) {
    let mut r = ArchiveReader::new(bytes).expect("archive");
    let mut tables = BTreeMap::new();
    let mut current = None;
    loop {
        match r.next_frame().expect("frame") {
            Frame::Table(name) => current = Some(name),
            Frame::Data => tables
                .entry(current.clone().unwrap())
                .or_insert_with(Vec::new)
                .extend_from_slice(&r.buf),
            Frame::End => {
                tables
                    .entry(current.take().unwrap())
                    .or_insert_with(Vec::new);
            }
            Frame::Trailer(_) => break,
        }
    }
    (r.header.clone(), tables)
}

/// The raw decompressed bytes of an archive.
fn decompressed(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

async fn export_bytes(url: &str, tenant: &str) -> Vec<u8> {
    let (url, tenant) = (url.to_string(), tenant.to_string());
    on_own_thread(move || async move {
        Ok(dump::export(&url, &tenant, Vec::new(), &mut Quiet).await?.1)
    })
    .await
    .expect("export")
}

async fn import_bytes(
    url: &str,
    bytes: Vec<u8>,
    slug: Option<&str>,
    secrets: SecretBox,
) -> anyhow::Result<tenantry::exports::restore::Imported> {
    let url = url.to_string();
    let options = ImportOptions {
        slug: slug.map(str::to_string),
        name: None,
    };
    on_own_thread(
        move || async move { import(&url, &bytes[..], &options, &secrets, &mut Quiet).await },
    )
    .await
}

/// A tenant with every kind of row: members, a custom role, an API key, contacts,
/// conversations, messages, an invitation, settings with a sealed secret.
async fn seeded(t: &TestApp) -> crate::common::TestTenant {
    let acme = t.tenant("acme").await;
    t.app
        .platform()
        .change_plan("acme", Plan::Enterprise)
        .await
        .unwrap();
    t.member(&acme, "mia@acme.test", Role::Member).await;
    let r = t
        .gql(
            &acme.token,
            &format!(
                r#"mutation {{ updateTenantSettings(input: {{timezone: "Europe/Paris", webhookSecret: "{SECRET}"}}) {{ webhookSecretSet }}
                  createCustomRole(name: "auditor", permissions: []) {{ id }}
                  createApiKey(name: "ci", role: MEMBER) {{ secret }}
                  inviteMember(email: "new@acme.test", role: MEMBER) {{ token }} }}"#
            ),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    for i in 0..3 {
        let contact = t
            .contact(&acme.token, &format!("Contact {i} with \\ odd text"))
            .await;
        let r = t
            .post(
                Some(&acme.token),
                &[],
                "mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"Hello\", channel: EMAIL}) { id } }",
                json!({ "c": contact }),
            )
            .await
            .1;
        let conv = r
            .data("startConversation.id")
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_string();
        for m in 0..2 {
            let r = t
                .post(
                    Some(&acme.token),
                    &[],
                    "mutation($c: ID!, $b: String!) { postMessage(input: {conversation: $c, body: $b}) { id } }",
                    json!({ "c": conv, "b": format!("refund é {m}") }),
                )
                .await
                .1;
            assert!(r["errors"].is_null(), "{r}");
        }
    }
    acme
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_export_round_trips_every_kind_of_row() {
    let t = TestApp::new().await;
    let acme = seeded(&t).await;
    let secrets = tenantry::tenancy::settings::load_secret_box(&t.app.config).unwrap();
    let first = export_bytes(&t.db.url, "acme").await;
    // The sealed secret never appears in clear.
    let raw = decompressed(&first);
    assert!(!raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    let (header, tables) = read_archive(&first);
    for table in [
        "contacts",
        "conversations",
        "messages",
        "memberships",
        "custom_roles",
        "api_keys",
        "invitations",
    ] {
        assert!(
            tables.get(table).is_some_and(|d| !d.is_empty()),
            "{table} exported"
        );
    }
    assert!(!tables.contains_key("refresh_tokens"));
    assert_eq!(
        tables["messages"].iter().filter(|&&b| b == b'\n').count(),
        6
    );
    assert_eq!(header.users.len(), 2);

    // Into an empty database, with this deployment's key: the secret is re-sealed.
    let other = TestDb::new().await;
    let imported = import_bytes(&other.url, first.clone(), None, secrets.clone())
        .await
        .expect("import");
    assert_ne!(imported.tenant_id, acme.id.0);
    assert_eq!(imported.resealed, vec!["webhook_secret".to_string()]);
    assert!(imported.to_set_again.is_empty());
    assert_eq!(imported.users_created, 2);
    let c = client(&other.url).await;
    // Audited per table, not per row: one entry per non-empty table with its row count and
    // the archive's checksum, in the new tenant's own chain (which verifies).
    let entries = c
        .query(
            "SELECT table_name, row_id, (new_values->>'bulk_rows')::bigint, new_values->>'sha256'
               FROM audit_log WHERE tenant_id = $1 AND table_name <> 'tenants' ORDER BY seq",
            &[&imported.tenant_id],
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), header.tables.len(), "one entry per table");
    for (row, table) in entries.iter().zip(&header.tables) {
        assert_eq!(row.get::<_, String>(0), table.name);
        assert_eq!(row.get::<_, String>(1), "*");
        assert_eq!(row.get::<_, Option<i64>>(2), Some(table.rows as i64));
        assert_eq!(row.get::<_, Option<String>>(3).map(|s| s.len()), Some(64));
    }
    let pool = tenantry::db::build_pool(&other.url, 1).unwrap();
    let reports = tenantry::audit::verify::Auditor::new(pool)
        .verify(Some("acme"))
        .await
        .unwrap();
    assert!(reports.iter().all(|r| r.broken.is_none()), "{reports:?}");
    let sealed: String = c
        .query_one(
            "SELECT settings->>'webhook_secret_sealed' FROM tenants WHERE id = $1",
            &[&imported.tenant_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        secrets
            .open(tenantry::ids::TenantId(imported.tenant_id), &sealed)
            .unwrap(),
        SECRET
    );

    // Export again: the same rows and checksums, the tenant id aside.
    let second = export_bytes(&other.url, "acme").await;
    let (header2, tables2) = read_archive(&second);
    assert_eq!(header.tables, header2.tables);
    assert_eq!(header.users, header2.users);
    let (old, new) = (acme.id.0.to_string(), imported.tenant_id.to_string());
    for (name, data) in &tables {
        let again = String::from_utf8(tables2[name].clone())
            .unwrap()
            .replace(&new, &old);
        assert_eq!(again.as_bytes(), &data[..], "{name} round-trips");
    }

    // Another deployment's key cannot open the secret: the import says to set it again.
    let third = TestDb::new().await;
    let imported = import_bytes(&third.url, first, None, SecretBox::new(&[9u8; 32]))
        .await
        .expect("import");
    assert_eq!(imported.to_set_again, vec!["webhook_secret".to_string()]);
}

/// Counts that must not change when an import is refused.
async fn counts(url: &str) -> Vec<i64> {
    let c = client(url).await;
    let mut out = Vec::new();
    for table in ["tenants", "users", "contacts", "messages", "memberships"] {
        out.push(
            c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0),
        );
    }
    out
}

/// Rewrites an archive frame by frame through `edit` (header, table, data) with fresh sums.
fn rewrite(
    bytes: &[u8],
    edit_header: impl Fn(&mut Header),
    edit_data: impl Fn(&str, Vec<u8>) -> Vec<u8>,
) -> Vec<u8> {
    let (mut header, tables) = read_archive(bytes);
    edit_header(&mut header);
    let mut w = ArchiveWriter::new(Vec::new(), &header).unwrap();
    for entry in &header.tables {
        w.begin_table(&entry.name).unwrap();
        let data = edit_data(
            &entry.name,
            tables.get(&entry.name).cloned().unwrap_or_default(),
        );
        w.data(&data).unwrap();
        w.end_table().unwrap();
    }
    w.finish().unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_or_hand_edited_archives_are_refused_with_nothing_written() {
    let t = TestApp::new().await;
    let acme = seeded(&t).await;
    let globex = t.tenant("globex").await;
    let secrets = tenantry::tenancy::settings::load_secret_box(&t.app.config).unwrap();
    let good = export_bytes(&t.db.url, "acme").await;
    let before = counts(&t.db.url).await;
    let refused = |result: anyhow::Result<_>, what: &str, says: &str| {
        let e = format!(
            "{:#}",
            result.err().unwrap_or_else(|| panic!("{what} imported"))
        );
        assert!(e.contains(says), "{what}: {e}");
    };

    // A byte changed inside the rows (the checksum no longer matches).
    let (header, tables) = read_archive(&good);
    let mut w = ArchiveWriter::new(Vec::new(), &header).unwrap();
    for entry in &header.tables {
        w.begin_table(&entry.name).unwrap();
        let mut data = tables[&entry.name].clone();
        if entry.name == "contacts" {
            let at = data.iter().position(|&b| b == b'C').unwrap();
            data[at] = b'K';
        }
        w.data(&data).unwrap();
        w.end_table().unwrap();
    }
    let (mut trailer, _) = w.finish().unwrap();
    let _ = &mut trailer;
    let mut tampered = decompressed(&good);
    let at = tampered
        .windows(8)
        .position(|w| w == b"Contact ")
        .expect("a contact's name");
    tampered[at] = b'K';
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tampered).unwrap();
    refused(
        import_bytes(
            &t.db.url,
            gz.finish().unwrap(),
            Some("copy"),
            secrets.clone(),
        )
        .await,
        "a changed byte",
        "checksums do not match",
    );

    // Rows of another tenant slipped in (checksums recomputed to match).
    let (acme_id, globex_id) = (acme.id.0.to_string(), globex.id.0.to_string());
    let foreign = rewrite(
        &good,
        |_| {},
        |name, data| {
            if name == "contacts" {
                String::from_utf8(data)
                    .unwrap()
                    .replacen(&acme_id, &globex_id, 1)
                    .into_bytes()
            } else {
                data
            }
        },
    );
    refused(
        import_bytes(&t.db.url, foreign, Some("copy"), secrets.clone()).await,
        "foreign tenant rows",
        "another tenant",
    );

    // A table this database does not know.
    let unknown = rewrite(
        &good,
        |h| {
            let mut extra = h.tables[0].clone();
            extra.name = "no_such_table".into();
            h.tables.push(extra);
        },
        |_, data| data,
    );
    refused(
        import_bytes(&t.db.url, unknown, Some("copy"), secrets.clone()).await,
        "an unknown table",
        "does not know",
    );

    // An archive from a newer database.
    let newer = rewrite(
        &good,
        |h| h.migrations.push("29990101000000".into()),
        |_, d| d,
    );
    refused(
        import_bytes(&t.db.url, newer, Some("copy"), secrets.clone()).await,
        "a newer migration",
        "has not applied",
    );

    // Truncated.
    refused(
        import_bytes(
            &t.db.url,
            good[..good.len() / 2].to_vec(),
            Some("copy"),
            secrets.clone(),
        )
        .await,
        "a truncated archive",
        "archive",
    );

    // Into an existing tenant: never.
    refused(
        import_bytes(&t.db.url, good.clone(), Some("globex"), secrets.clone()).await,
        "over an active tenant",
        "never writes into an existing tenant",
    );
    assert_eq!(counts(&t.db.url).await, before, "nothing written");

    // From an older database: an earlier migration list, and `contacts` without a column
    // added since (here `company`): accepted, the column taking its default.
    let (header, _) = read_archive(&good);
    let contacts = header.tables.iter().find(|e| e.name == "contacts").unwrap();
    let company = contacts
        .columns
        .iter()
        .position(|c| c == "company")
        .unwrap();
    let older = rewrite(
        &good,
        |h| {
            h.migrations.pop();
            let entry = h.tables.iter_mut().find(|e| e.name == "contacts").unwrap();
            entry.columns.remove(company);
        },
        |name, data| {
            if name != "contacts" {
                return data;
            }
            let text = String::from_utf8(data).unwrap();
            let mut out = String::new();
            for line in text.lines() {
                let mut fields: Vec<&str> = line.split('\t').collect();
                fields.remove(company);
                out.push_str(&fields.join("\t"));
                out.push('\n');
            }
            out.into_bytes()
        },
    );
    let imported = import_bytes(&t.db.url, older, Some("older"), secrets.clone())
        .await
        .expect("an older archive imports");
    let c = client(&t.db.url).await;
    let (rows, companies): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*), count(company) FROM contacts WHERE tenant_id = $1",
                &[&imported.tenant_id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(rows > 0);
    assert_eq!(
        companies, 0,
        "the column the archive lacks takes its default"
    );
    t.app
        .platform()
        .set_lifecycle("older", tenantry::platform::lifecycle::Lifecycle::Delete)
        .await
        .unwrap();
    t.app.platform().purge("older").await.unwrap();
    assert_eq!(counts(&t.db.url).await, before, "nothing else written");

    // Over a deleted tenant of that slug: replaced, and its rows purged.
    t.app
        .platform()
        .set_lifecycle("acme", tenantry::platform::lifecycle::Lifecycle::Delete)
        .await
        .unwrap();
    let imported = import_bytes(&t.db.url, good, None, secrets)
        .await
        .expect("restore");
    assert!(imported.replaced_deleted);
    assert_eq!(imported.tenant_id, acme.id.0, "restored with its own id");
    assert_eq!(counts(&t.db.url).await, before);
}

/// The built binary with `args`, against the database at `url`, quiet but for errors.
fn command(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env(
            "TENANTRY_SECRET_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .env("TENANTRY_JWT_SECRET", "cli-test-secret-cli-test-secret-!!")
        .env("RUST_LOG", "error");
    command
}

/// Runs the built binary; returns its stdout (fails on a non-zero exit).
fn tenantry(url: &str, args: &[&str]) -> String {
    let out = command(url, args).output().expect("run tenantry");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "tenantry {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A tenant table only these tests know, made as a migration would make it: one statement
/// per query (Citus wants DDL on distributed tables so), then distributed (a no-op on one
/// server).
async fn probe_table(url: &str) {
    for sql in [
        "CREATE TABLE probe_blobs (
           tenant_id uuid NOT NULL REFERENCES tenants (id),
           id bigint NOT NULL, payload text NOT NULL, PRIMARY KEY (tenant_id, id))",
        "ALTER TABLE probe_blobs ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE probe_blobs FORCE ROW LEVEL SECURITY",
        "CREATE POLICY tenant_isolation ON probe_blobs
           USING (tenant_id = app.current_tenant_id()) WITH CHECK (tenant_id = app.current_tenant_id())",
        "SELECT app.distribute_tenant_table('probe_blobs')",
    ] {
        exec(url, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
}

/// Runs `tenantry tenant export` of `tenant` to `file` and returns its peak resident memory,
/// sampled while it runs (VmHWM: the kernel's own high-water mark).
fn export_peak_rss(url: &str, tenant: &str, file: &std::path::Path) -> u64 {
    let mut child = command(
        url,
        &["tenant", "export", tenant, "-o", file.to_str().unwrap()],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            for line in status.lines().filter(|l| l.starts_with("VmHWM:")) {
                let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
                peak_kb = peak_kb.max(kb);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success(), "export of {tenant}");
    peak_kb
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_is_exported_and_a_large_tenant_streams_in_bounded_memory() {
    let db = TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("tenantry-export-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    tenantry(&db.url, &["migrate"]);
    tenantry(
        &db.url,
        &["tenant", "create", "--slug", "big", "--name", "Big"],
    );
    // A table only this test knows, as a migration would add it; ~130 MB of rows, hex digits
    // that compress to about half (an archive held in memory would show, not only rows).
    probe_table(&db.url).await;
    exec(
        &db.url,
        "INSERT INTO probe_blobs
           SELECT t.id, i, (SELECT string_agg(md5((i * 40 + j)::text), '') FROM generate_series(1, 40) j)
             FROM tenants t, generate_series(1, 100000) i
            WHERE t.slug = 'big'",
    )
    .await
    .unwrap();
    // The same command on a tenant with no rows: the process's own footprint (runtime, pool,
    // schema), which differs between machines, is measured rather than assumed.
    tenantry(
        &db.url,
        &["tenant", "create", "--slug", "small", "--name", "Small"],
    );
    let baseline_kb = export_peak_rss(&db.url, "small", &dir.join("small.tenantry"));
    let file = dir.join("big.tenantry");
    let peak_kb = export_peak_rss(&db.url, "big", &file);
    let bytes = std::fs::read(&file).unwrap();
    let (header, tables) = read_archive(&bytes);
    let probe = header
        .tables
        .iter()
        .find(|t| t.name == "probe_blobs")
        .expect("exported");
    assert_eq!(probe.rows, 100_000);
    let data = tables["probe_blobs"].len() as u64;
    assert!(data > 130_000_000, "{data} bytes of rows");
    // The archive itself is too large to have been held in memory either.
    assert!(
        bytes.len() as u64 > data / 4,
        "archive of {} bytes",
        bytes.len()
    );
    // Memory does not grow with the tenant: what the big export needed beyond the empty
    // one's is far below the data it streamed (locally ~3 MB for ~130 MB). Start-up's own
    // footprint varies by some hundred kB between runs, so the big export may even peak a
    // little below the empty one; half of it shows the big one was sampled at all.
    let grown = peak_kb.saturating_sub(baseline_kb) * 1024;
    eprintln!(
        "export: peak RSS {peak_kb} kB (empty tenant {baseline_kb} kB) for {data} bytes of rows"
    );
    assert!(
        baseline_kb > 0 && peak_kb > baseline_kb / 2 && grown < data / 8,
        "peak RSS {peak_kb} kB, {baseline_kb} kB for an empty tenant, for {data} bytes of rows"
    );

    // Imported back as another tenant, the new table too; then cloned without a file.
    let line = tenantry(
        &db.url,
        &["tenant", "import", file.to_str().unwrap(), "--slug", "big2"],
    );
    assert!(line.starts_with("big2 imported:"), "{line}");
    let line = tenantry(&db.url, &["tenant", "clone", "big", "--to", "big3"]);
    assert!(line.starts_with("big3 imported:"), "{line}");
    let other = TestDb::new().await;
    probe_table(&other.url).await;
    let line = tenantry(
        &db.url,
        &[
            "tenant",
            "clone",
            "big",
            "--to",
            "big",
            "--database",
            &other.url,
        ],
    );
    assert!(line.starts_with("big imported:"), "{line}");
    for (url, n) in [(&db.url, 3i64), (&other.url, 1)] {
        let c = client(url).await;
        let rows: i64 = c
            .query_one("SELECT count(DISTINCT tenant_id) FROM probe_blobs", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, n);
        let total: i64 = c
            .query_one("SELECT count(*) FROM probe_blobs", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(total, n * 100_000);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_export_themselves_over_graphql_and_download_by_a_time_limited_url() {
    let dir = std::env::temp_dir().join(format!("tenantry-jobs-{}", uuid::Uuid::new_v4()));
    let d = dir.clone();
    let t = TestApp::with_config(move |c| c.export_dir = Some(d)).await;
    let acme = seeded(&t).await;
    let globex = t.tenant("globex").await;
    let (_, viewer) = t.member(&acme, "vic@acme.test", Role::Viewer).await;
    // The basic plan has no data_export; a viewer lacks tenant:manage.
    let r = t
        .gql(&globex.token, "mutation { requestExport { id } }")
        .await;
    assert_eq!(r.code(), "FEATURE_NOT_ENABLED", "{r}");
    let r = t.gql(&viewer, "mutation { requestExport { id } }").await;
    assert_eq!(r.code(), "FORBIDDEN", "{r}");

    // Queued before any worker runs: the state is in the database, and a worker started
    // later (as after a restart) runs it.
    let r = t
        .gql(
            &acme.token,
            "mutation { requestExport { id status downloadUrl } }",
        )
        .await;
    assert_eq!(r.data("requestExport.status"), "QUEUED", "{r}");
    let id = r.data("requestExport.id").as_str().unwrap().to_string();
    t.app.start_export_worker();
    let query = format!(
        r#"{{ exportJob(id: "{id}") {{ status progress rows bytes error downloadUrl downloadExpiresAt }} }}"#
    );
    let mut job = json!(null);
    for _ in 0..200 {
        job = t.gql(&acme.token, &query).await;
        if job.data("exportJob.status") == "DONE" || job.data("exportJob.status") == "FAILED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(job.data("exportJob.status"), "DONE", "{job}");
    assert_eq!(job.data("exportJob.progress"), 1.0);
    assert!(job.data("exportJob.rows").as_i64().unwrap() > 10);
    let url = job
        .data("exportJob.downloadUrl")
        .as_str()
        .unwrap()
        .to_string();

    // Another tenant (with the feature) cannot see the job.
    t.app
        .platform()
        .change_plan("globex", Plan::Enterprise)
        .await
        .unwrap();
    let r = t.gql(&globex.token, &query).await;
    assert_eq!(r.code(), "NOT_FOUND", "{r}");

    let get = |url: String| {
        let router = t.router.clone();
        async move {
            use tower::ServiceExt;
            let response = router
                .oneshot(
                    axum::http::Request::get(url)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (status, body.to_vec())
        }
    };
    let (status, body) = get(url.clone()).await;
    assert_eq!(status, 200);
    let (header, _) = read_archive(&body);
    assert_eq!(header.tenant_id().unwrap(), acme.id.0);
    // A token for another path, or altered, is refused.
    let (status, _) = get(url.replace(&acme.id.0.to_string(), &globex.id.0.to_string())).await;
    assert_eq!(status, 404);
    let (status, _) = get(format!("{}x", url)).await;
    assert_eq!(status, 404);
    // An expired token is refused.
    let secrets = tenantry::tenancy::settings::load_secret_box(&t.app.config).unwrap();
    let job_id = url
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let old = tenantry::exports::jobs::download_token(
        &secrets,
        acme.id,
        job_id,
        chrono::Utc::now() - chrono::Duration::seconds(1),
    )
    .unwrap();
    let (status, _) = get(format!("/exports/{}/{job_id}?token={old}", acme.id.0)).await;
    assert_eq!(status, 404);
    let _ = std::fs::remove_dir_all(dir);
}

/// A job whose worker died mid-run (its claim's connection gone, its row left `running`) is
/// taken again by the next worker — as after a crash and restart — and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_interrupted_by_a_dead_worker_runs_again_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("tenantry-jobs-{}", uuid::Uuid::new_v4()));
    let d = dir.clone();
    let t = TestApp::with_config(move |c| c.export_dir = Some(d)).await;
    let acme = seeded(&t).await;
    let r = t
        .gql(&acme.token, "mutation { requestExport { id } }")
        .await;
    let id = r.data("requestExport.id").as_str().unwrap().to_string();
    let query = format!(r#"{{ exportJob(id: "{id}") {{ status rows }} }}"#);

    // The dead worker: it claimed the queue entry (row lock) and marked the job running.
    let claim = client(&t.db.url).await;
    claim.batch_execute("BEGIN").await.unwrap();
    let job: uuid::Uuid = claim
        .query_one("SELECT job_id FROM export_queue FOR UPDATE", &[])
        .await
        .unwrap()
        .get(0);
    let state = client(&t.db.url).await;
    // Statement by statement: Citus re-runs a SET LOCAL's whole batch on the workers.
    state.batch_execute("BEGIN").await.unwrap();
    state
        .batch_execute(&format!("SET LOCAL app.tenant_id = '{}'", acme.id.0))
        .await
        .unwrap();
    state
        .batch_execute(&format!(
            "UPDATE export_jobs SET status = 'running', started_at = now(), rows_done = 3 \
              WHERE tenant_id = '{}' AND id = '{job}'",
            acme.id.0
        ))
        .await
        .unwrap();
    state.batch_execute("COMMIT").await.unwrap();
    // While its claim holds, a live worker leaves the job alone.
    t.app.start_export_worker();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = t.gql(&acme.token, &query).await;
    assert_eq!(r.data("exportJob.status"), "RUNNING", "{r}");
    // The process dies: its connection and lock go; the live worker's next look (on the
    // queue's notification or its poll) takes the job and runs it from the start.
    drop(claim);
    let mut job = json!(null);
    for _ in 0..300 {
        job = t.gql(&acme.token, &query).await;
        if job.data("exportJob.status") == "DONE" || job.data("exportJob.status") == "FAILED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(job.data("exportJob.status"), "DONE", "{job}");
    assert!(job.data("exportJob.rows").as_i64().unwrap() > 10);
    let _ = std::fs::remove_dir_all(dir);
}
