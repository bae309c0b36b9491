//! Errors a client can quote: every error carries `extensions.code` and
//! `extensions.requestId`, and that id is the `request.id` of the server's log lines.
//! (This module installs the test binary's global log subscriber.)

use crate::common::{Reply, TestApp};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Log lines written while the guard lives (JSON, this thread only).
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn request_id(body: &Value) -> &str {
    body["errors"][0]["extensions"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestId: {body}"))
}

/// The log lines of this test binary from now on (JSON, as `TENANTRY_LOG_FORMAT=json`
/// writes them). Global: a thread-scoped subscriber misses events when other tests run.
fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        captured
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_of_an_error_is_the_one_logged() {
    let captured = captured_logs();

    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    // A syntax error: async-graphql's own error, coded (and logged) by the fallback.
    let (_, body) = t
        .post(Some(&a.token), &[], "{ contacts(first: ) }", json!({}))
        .await;
    assert_eq!(body.code(), "BAD_USER_INPUT", "{body}");
    let id = request_id(&body).to_string();
    let logged: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|l| l["span"]["request.id"] == id.as_str())
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l["fields"]["message"] == "an uncoded request error coded BAD_USER_INPUT"),
        "no log line with request.id {id}: {:?}",
        captured.lines()
    );

    // Refusals before execution and guard refusals carry one too, each its own.
    let (_, refused) = t
        .post(Some("not-a-token"), &[], "{ me { role } }", json!({}))
        .await;
    assert_eq!(refused.code(), "UNAUTHENTICATED", "{refused}");
    let (_, viewer) = t
        .post(None, &[], "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(viewer.code(), "UNAUTHENTICATED", "{viewer}");
    let ids = [id.as_str(), request_id(&refused), request_id(&viewer)];
    assert!(
        ids.iter().all(|i| uuid::Uuid::parse_str(i).is_ok()),
        "{ids:?}"
    );
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
}
