//! OpenTelemetry traces over OTLP/HTTP (protobuf), when `TENANTRY_OTLP_ENDPOINT` is set.
//!
//! Unset, no layer is installed and [`enabled`] is false: the request path creates no
//! transaction or statement spans and reads no `traceparent` (the request span it always
//! had stays, for the logs). Set, every request span becomes an OpenTelemetry span (the
//! `graphql` span with `tenant.id`, `user.id`, `request.id`, the operation and its outcome),
//! with a `transaction` child and an `sql` grandchild per statement (its text, literals
//! replaced by `?`); a W3C `traceparent` header makes the request part of the caller's trace.
//!
//! Export is batched on the SDK's own thread through reqwest's blocking client (no gRPC
//! stack to build), so a slow collector never holds a request.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (the cheap check the request path makes before doing trace
/// work).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The tracer provider of an enabled export; flushes and stops it when dropped.
pub struct Tracing {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Tracing {
    /// Exports every finished span now (tests, and before the process ends).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "flushing traces");
        }
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// The OTLP URL of the traces of `endpoint`: the collector's base URL (`http://host:4318`)
/// gets `/v1/traces`, as `OTEL_EXPORTER_OTLP_ENDPOINT` does.
fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{endpoint}/v1/traces")
    }
}

/// The tracing layer exporting to `endpoint`, and the provider to keep while it runs.
/// Marks tracing [`enabled`] and installs the W3C trace-context propagator.
pub fn layer<S>(endpoint: &str) -> anyhow::Result<(impl tracing_subscriber::Layer<S>, Tracing)>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .build()?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("tenantry")
                .build(),
        )
        .build();
    let tracer = provider.tracer("tenantry");
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    ENABLED.store(true, Ordering::Relaxed);
    Ok((
        tracing_opentelemetry::layer().with_tracer(tracer),
        Tracing { provider },
    ))
}

/// Makes `span` a child of the caller's trace named by W3C `traceparent` (and
/// `tracestate`) header values, when tracing is enabled and they are valid.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let (true, Some(traceparent)) = (enabled(), traceparent) else {
        return;
    };
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_string(), traceparent.to_string());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_string(), state.to_string());
    }
    let context = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(context);
}

/// A statement's text for its span: diesel's debug form without the bound values, and
/// every string literal (the `SET LOCAL`s of the tenant and user ids) replaced by `'?'`.
pub fn statement_text(debug: &str) -> String {
    let text = debug.split(" -- binds: ").next().unwrap_or(debug);
    let mut out = String::with_capacity(text.len());
    let mut in_literal = false;
    for c in text.chars() {
        match (c, in_literal) {
            ('\'', false) => {
                in_literal = true;
                out.push_str("'?'");
            }
            ('\'', true) => in_literal = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_lose_their_values() {
        assert_eq!(
            statement_text("SELECT * FROM contacts WHERE id = $1 -- binds: [42]"),
            "SELECT * FROM contacts WHERE id = $1"
        );
        assert_eq!(
            statement_text(
                "BEGIN; SET LOCAL app.tenant_id = '0190-ab'; SET LOCAL app.role = 'OWNER';"
            ),
            "BEGIN; SET LOCAL app.tenant_id = '?'; SET LOCAL app.role = '?';"
        );
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
