//! `schema.graphql` is the generated schema, and every migration goes up, down and up again.

use crate::common::{client, TestDb};

#[test]
fn schema_graphql_equals_the_generated_schema() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the project root");
    let generated = tenantry::schema::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
    // The guards are visible to partners.
    assert!(generated.contains("directive @requiresRole(role: Role!) on FIELD_DEFINITION"));
    assert!(generated.contains(
        "createContact(input: CreateContactInput!): Contact! @requiresRole(role: MEMBER)"
    ));
}

async fn table_names(url: &str) -> Vec<String> {
    client(url)
        .await
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('public', 'app') AND c.relkind IN ('r', 'p', 'v', 'S', 'f')
                AND c.relname <> '__diesel_schema_migrations' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_up_down_and_up() {
    let db = TestDb::empty().await;
    let pool = tenantry::db::build_pool(&db.url, 2).unwrap();
    let applied = tenantry::db::run_migrations(&pool).await.unwrap();
    assert!(applied >= 3);
    let after_up = table_names(&db.url).await;
    assert!(after_up.contains(&"contacts".to_string()), "{after_up:?}");

    let reverted = tenantry::db::revert_all_migrations(&pool).await.unwrap();
    assert_eq!(reverted, applied);
    assert_eq!(
        table_names(&db.url).await,
        Vec::<String>::new(),
        "down.sql left objects behind"
    );
    let schemas: i64 = client(&db.url)
        .await
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0, "the app schema survived its down.sql");

    assert_eq!(tenantry::db::run_migrations(&pool).await.unwrap(), applied);
    assert_eq!(table_names(&db.url).await, after_up);
}
