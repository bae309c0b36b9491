//! What operators see of a running server: Prometheus metrics with bounded per-tenant
//! labels ([`metrics`]), each tenant's recent error rate and latency for `tenantHealth`
//! ([`health`]), OpenTelemetry traces when an OTLP endpoint is configured ([`traces`]), and
//! repeated error lines folded into one per interval ([`quiet`]).
//!
//! A shared basic like `error` and `config`: it imports nothing of the layers above, so the
//! database layer records its pool and error figures here (or through the `metrics` macros
//! and the global recorder) and the HTTP layer records each request.

pub mod health;
pub mod metrics;
pub mod quiet;
pub mod traces;
