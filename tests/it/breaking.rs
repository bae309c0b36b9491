//! Breaking changes to the schema: the classifier on small SDL pairs (one per class of
//! change), `tenantry schema --check-breaking`, and `.ci/check-breaking` on throwaway git
//! repositories. No database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tenantry::schema::breaking::{compare, has_breaking};

/// The findings from `old` to `new`, as printed.
fn found(old: &str, new: &str) -> Vec<String> {
    compare(old, new)
        .expect("valid SDL")
        .iter()
        .map(ToString::to_string)
        .collect()
}

const BASE: &str = "
type Query { contact(id: ID!, first: Int): Contact }
interface Node { id: ID! }
type Contact implements Node {
  id: ID!
  name: String!
  email: String
  tags: [String!]!
  status: Status!
}
enum Status { ACTIVE ARCHIVED }
union Result = Contact | Note
type Note { body: String }
input ContactInput { name: String! email: String limit: Int! = 10 }
type Mutation { create(input: ContactInput!, dryRun: Boolean = false): Contact }
directive @trace(level: Int) on FIELD
directive @guard(role: String!) on FIELD_DEFINITION
";

/// BASE with one textual replacement (which must apply).
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

fn assert_found(new: &str, expected: &[&str]) {
    assert_eq!(found(BASE, new), expected, "from BASE to:\n{new}");
}

#[test]
fn breaking_nothing_between_equal_schemas() {
    assert_found(BASE, &[]);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(found(&committed, &committed), Vec::<String>::new());
    assert_eq!(
        found(&committed, &tenantry::schema::sdl()),
        Vec::<String>::new()
    );
}

#[test]
fn breaking_additions_that_cannot_break_are_not_listed() {
    let new = edit(
        "type Note { body: String }",
        "type Note { body: String title: String }",
    ) + "type Extra { x: Int }\ninput Other { y: Int! }\n";
    let new = new
        .replace("first: Int)", "first: Int, after: String, max: Int! = 5)")
        .replace(
            "limit: Int! = 10 }",
            "limit: Int! = 10 note: String page: Int! = 1 }",
        );
    assert_found(&new, &[]);
}

#[test]
fn breaking_type_removed_or_kind_changed() {
    let new = edit("type Note { body: String }", "").replace(" | Note", "");
    assert_found(
        &new,
        &[
            "BREAKING Note: type removed",
            "BREAKING Result.Note: union member removed",
        ],
    );
    let new = edit(
        "enum Status { ACTIVE ARCHIVED }",
        "type Status { active: Boolean }",
    );
    assert_found(
        &new,
        &["BREAKING Status: type kind changed (enum → object)"],
    );
}

#[test]
fn breaking_fields_removed() {
    assert_found(
        &edit("  email: String\n", ""),
        &["BREAKING Contact.email: field removed"],
    );
    let new = edit("interface Node { id: ID! }", "interface Node { key: ID! }").replace(
        "type Contact implements Node {",
        "type Contact implements Node {\n  key: ID!",
    );
    assert_found(&new, &["BREAKING Node.id: field removed"]);
    assert_found(
        &edit(" email: String limit", " limit"),
        &["BREAKING ContactInput.email: input field removed"],
    );
}

#[test]
fn breaking_enum_values_union_members_and_interfaces() {
    assert_found(
        &edit("ACTIVE ARCHIVED", "ACTIVE"),
        &["BREAKING Status.ARCHIVED: enum value removed"],
    );
    assert_found(
        &edit("ACTIVE ARCHIVED", "ACTIVE ARCHIVED DELETED"),
        &["DANGEROUS Status.DELETED: enum value added"],
    );
    assert_found(
        &edit("Contact | Note", "Contact"),
        &["BREAKING Result.Note: union member removed"],
    );
    assert_found(
        &edit("type Contact implements Node {", "type Contact {"),
        &["BREAKING Contact: no longer implements Node"],
    );
}

#[test]
fn breaking_arguments() {
    assert_found(
        &edit("(id: ID!, first: Int)", "(id: ID!)"),
        &["BREAKING Query.contact.first: argument removed"],
    );
    assert_found(
        &edit("first: Int)", "first: Int!)"),
        &["BREAKING Query.contact.first: argument made required (Int → Int!)"],
    );
    // Looser input is safe.
    assert_found(&edit("(id: ID!,", "(id: ID,"), &[]);
    assert_found(
        &edit("first: Int)", "first: String)"),
        &["BREAKING Query.contact.first: argument type changed (Int → String)"],
    );
    assert_found(
        &edit("first: Int)", "first: [Int])"),
        &["BREAKING Query.contact.first: argument type changed (Int → [Int])"],
    );
    assert_found(
        &edit("first: Int)", "first: Int, tenant: String!)"),
        &["BREAKING Query.contact.tenant: required argument added"],
    );
    let new = edit("dryRun: Boolean = false", "dryRun: Boolean");
    assert_found(
        &new,
        &["DANGEROUS Mutation.create.dryRun: argument default removed"],
    );
    let old = edit("dryRun: Boolean = false", "dryRun: Boolean! = false");
    let new = edit("dryRun: Boolean = false", "dryRun: Boolean!");
    assert_eq!(
        found(&old, &new),
        ["BREAKING Mutation.create.dryRun: argument made required (default removed)"]
    );
}

#[test]
fn breaking_input_fields() {
    assert_found(
        &edit("limit: Int! = 10 }", "limit: Int! = 10 owner: ID! }"),
        &["BREAKING ContactInput.owner: required input field added"],
    );
    assert_found(
        &edit(" email: String limit", " email: String! limit"),
        &["BREAKING ContactInput.email: input field made required (String → String!)"],
    );
    assert_found(
        &edit(
            "input ContactInput { name: String!",
            "input ContactInput { name: String",
        ),
        &[],
    );
    assert_found(
        &edit("limit: Int! = 10", "limit: Int!"),
        &["BREAKING ContactInput.limit: input field made required (default removed)"],
    );
}

#[test]
fn breaking_output_field_types() {
    // Stricter output is safe.
    assert_found(&edit("email: String\n", "email: String!\n"), &[]);
    assert_found(
        &edit("name: String!", "name: String"),
        &["BREAKING Contact.name: field made nullable (String! → String)"],
    );
    assert_found(
        &edit("tags: [String!]!", "tags: [String]!"),
        &["BREAKING Contact.tags: field made nullable ([String!]! → [String]!)"],
    );
    assert_found(
        &edit("email: String\n", "email: Int\n"),
        &["BREAKING Contact.email: field type changed (String → Int)"],
    );
    assert_found(
        &edit("tags: [String!]!", "tags: String!"),
        &["BREAKING Contact.tags: field type changed ([String!]! → String!)"],
    );
}

#[test]
fn breaking_directives_and_roots() {
    assert_found(
        &edit("directive @trace(level: Int) on FIELD\n", ""),
        &["BREAKING @trace: directive removed"],
    );
    assert_found(
        &edit(
            "directive @trace(level: Int) on FIELD",
            "directive @trace on FIELD",
        ),
        &["BREAKING @trace.level: argument removed"],
    );
    // A guard added to a field: every query stays valid, some callers may now be refused.
    assert_found(
        &edit(
            "= false): Contact }",
            "= false): Contact @guard(role: \"ADMIN\") }",
        ),
        &["DANGEROUS Mutation.create: directive @guard added"],
    );
    // A schema-only directive cannot appear in a client's operation.
    assert_found(
        &edit("directive @guard(role: String!) on FIELD_DEFINITION\n", ""),
        &["DANGEROUS @guard: schema directive removed"],
    );
    let new =
        edit("type Mutation {", "type Mutations {") + "schema { query: Query mutation: Mutations }";
    let findings = found(BASE, &new);
    assert!(
        findings.contains(&"BREAKING schema: mutation root changed (Mutation → Mutations)".into()),
        "{findings:?}"
    );
    assert!(
        findings.contains(&"BREAKING Mutation: type removed".into()),
        "{findings:?}"
    );
}

#[test]
fn breaking_breaking_findings_come_first_and_invalid_sdl_is_an_error() {
    let new = edit("ACTIVE ARCHIVED", "ACTIVE DELETED");
    let findings = compare(BASE, &new).unwrap();
    assert!(has_breaking(&findings));
    assert_eq!(
        findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "BREAKING Status.ARCHIVED: enum value removed",
            "DANGEROUS Status.DELETED: enum value added"
        ]
    );
    let err = compare("type {", BASE).unwrap_err();
    assert!(
        err.to_string().starts_with("the old schema is not valid"),
        "{err}"
    );
}

fn committed_schema() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap()
}

/// The committed schema with a field the generated one lacks: as if it had been removed.
fn schema_with_extra_field() -> String {
    let committed = committed_schema();
    let anchor = "type Contact implements Node {\n";
    assert!(committed.contains(anchor));
    committed.replacen(anchor, &format!("{anchor}\tnickname: String\n"), 1)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantry-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check_breaking(old: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["schema", "--check-breaking"])
        .arg(old)
        .env("RUST_LOG", "error")
        .output()
        .expect("run tenantry")
}

#[test]
fn breaking_cli_lists_a_removed_field_and_exits_non_zero() {
    let dir = temp_dir("breaking-cli");
    let old = dir.join("old.graphql");
    std::fs::write(&old, schema_with_extra_field()).unwrap();
    let out = check_breaking(&old);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(stdout.trim(), "BREAKING Contact.nickname: field removed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 breaking change(s)"));

    let same = dir.join("schema.graphql");
    std::fs::write(&same, committed_schema()).unwrap();
    let out = check_breaking(&same);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("no breaking changes against {}", same.display())
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs git in `repo` with an identity of its own.
fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=CI", "-c", "user.email=ci@tenantry.test"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(repo)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

/// Commits `schema.graphql` (or removes it, for `None`) with `message`.
fn commit_schema(repo: &Path, schema: Option<&str>, message: &str) {
    match schema {
        Some(text) => std::fs::write(repo.join("schema.graphql"), text).unwrap(),
        None => std::fs::write(repo.join("README.md"), message).unwrap(),
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
}

/// Runs `.ci/check-breaking` on `repo` with the built binary; (success, stdout + stderr).
fn ci_check(repo: &Path) -> (bool, String) {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/check-breaking"))
        .env("TENANTRY_REPO", repo)
        .env("TENANTRY", env!("CARGO_BIN_EXE_tenantry"))
        .env("RUST_LOG", "error")
        .env_remove("TENANTRY_BREAKING_BASE")
        .output()
        .expect("run .ci/check-breaking");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn breaking_ci_script_fails_unless_the_commit_says_breaking() {
    let repo = temp_dir("breaking-ci");
    git(&repo, &["init", "-q"]);
    let extra = schema_with_extra_field();
    let committed = committed_schema();

    // One commit: nothing to compare with.
    commit_schema(&repo, Some(&extra), "first");
    let (ok, text) = ci_check(&repo);
    assert!(ok && text.contains("skipped: no previous commit"), "{text}");

    // The previous commit's schema has a field the generated one lacks.
    commit_schema(&repo, Some(&committed), "drop Contact.nickname");
    let (ok, text) = ci_check(&repo);
    assert!(!ok, "{text}");
    assert!(
        text.contains("BREAKING Contact.nickname: field removed"),
        "{text}"
    );
    assert!(
        text.contains("say [breaking] in the commit message"),
        "{text}"
    );

    // The same change, announced.
    git(
        &repo,
        &[
            "commit",
            "-q",
            "--amend",
            "-m",
            "drop Contact.nickname [breaking]",
        ],
    );
    let (ok, text) = ci_check(&repo);
    assert!(
        ok && text.contains("accepted: the commit message says [breaking]"),
        "{text}"
    );

    // The next commit compares with an unchanged schema.
    commit_schema(&repo, None, "docs");
    let (ok, text) = ci_check(&repo);
    assert!(ok && text.contains("no breaking changes against"), "{text}");
    let _ = std::fs::remove_dir_all(&repo);

    // A previous commit without schema.graphql.
    let repo = temp_dir("breaking-ci-new");
    git(&repo, &["init", "-q"]);
    commit_schema(&repo, None, "start");
    commit_schema(&repo, Some(&committed), "add the schema");
    let (ok, text) = ci_check(&repo);
    assert!(
        ok && text.contains("skipped: no schema.graphql at"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&repo);
}
