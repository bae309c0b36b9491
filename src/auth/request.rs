//! Who calls and for which tenant, read from a request's headers (and its path): the
//! bearer token or API key, and the tenant selectors in DESIGN.md's order. Membership is
//! checked later, on first use of the request's transaction ([`super::admission`]).

use super::token::TokenKeys;
use super::{ApiKeyGrant, Principal, TenantSelector};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use crate::validate::validate_slug;
use axum::http::{header, HeaderMap};

/// Verifies presented API keys. The api_keys domain implements it (the key format, its
/// hash and lookup are that domain's); it is a trait here because authentication sits
/// below the domains and may not import one.
#[async_trait::async_trait]
pub trait ApiKeyVerifier: Send + Sync {
    /// Whether a bearer `token` is meant as an API key (rather than an access token), by
    /// its shape alone.
    fn is_api_key(&self, token: &str) -> bool;

    /// What the presented key grants; an unknown, revoked or expired key is
    /// UNAUTHENTICATED.
    async fn verify(&self, presented: &str) -> AppResult<ApiKeyGrant>;
}

/// Authenticates requests: verifies tokens and API keys and reads the tenant selectors.
pub struct Authenticator<'a> {
    /// Access-token verification keys.
    pub keys: &'a TokenKeys,
    /// Verifies API keys.
    pub api_keys: &'a dyn ApiKeyVerifier,
    /// The base domain whose subdomains name tenants.
    pub base_domain: Option<&'a str>,
}

impl Authenticator<'_> {
    /// Reads the bearer token and what names the tenant. A present but invalid token fails
    /// the whole request (UNAUTHENTICATED); no token means anonymous (introspection still
    /// works); a token bound to another tenant than a header names is FORBIDDEN.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        path_slug: Option<String>,
    ) -> AppResult<Option<Principal>> {
        let named = tenant_from_request(headers, self.base_domain, path_slug)?;
        let Some(auth) = headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(AppError::unauthenticated)?;
        if self.api_keys.is_api_key(token) {
            // An API key names its own tenant; a selector naming another one is refused.
            let grant = self.api_keys.verify(token).await?;
            let (tenant, bound_tenant) = bind(grant.tenant, named, "API key")?;
            return Ok(Some(Principal {
                user_id: grant.user,
                tenant: Some(tenant),
                role_cap: Some(super::KeyCap {
                    role: grant.role,
                    key: grant.key,
                    requests_per_minute: grant.requests_per_minute,
                }),
                bound_tenant,
            }));
        }
        let verified = self.keys.verify(token)?;
        let (tenant, bound_tenant) = match verified.tenant_id {
            Some(tid) => {
                let (tenant, bound) = bind(tid, named, "token")?;
                (Some(tenant), bound)
            }
            None => (named, None),
        };
        Ok(Some(Principal {
            user_id: verified.user_id,
            tenant,
            role_cap: None,
            bound_tenant,
        }))
    }
}

/// The selector a credential bound to `tenant` resolves through, given what the request
/// names: nothing or the same id → the id; another id → FORBIDDEN at once; a slug, domain
/// or path → that selector, with `tenant` as the one it must turn out to be (checked on
/// admission, where the selector is resolved).
fn bind(
    tenant: TenantId,
    named: Option<TenantSelector>,
    credential: &str,
) -> AppResult<(TenantSelector, Option<TenantId>)> {
    match named {
        None => Ok((TenantSelector::Id(tenant), None)),
        Some(TenantSelector::Id(other)) if other == tenant => {
            Ok((TenantSelector::Id(tenant), None))
        }
        Some(TenantSelector::Id(_)) => Err(bound_elsewhere(credential)),
        Some(selector) => Ok((selector, Some(tenant))),
    }
}

/// The refusal of a request whose credential is bound to another tenant than it names
/// (saying nothing of either tenant).
pub fn bound_elsewhere(credential: &str) -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        format!("the {credential} is bound to another tenant than the request names"),
    )
}

/// The tenant a request names, in DESIGN.md's order after the token: `X-Tenant-ID`, else
/// `X-Tenant-Slug`, else the subdomain of the configured base domain, else the
/// `/t/{slug}/graphql` path.
pub fn tenant_from_request(
    headers: &HeaderMap,
    base_domain: Option<&str>,
    path_slug: Option<String>,
) -> AppResult<Option<TenantSelector>> {
    if let Some(selector) = tenant_from_headers(headers)? {
        return Ok(Some(selector));
    }
    if let Some(slug) = base_domain.and_then(|base| subdomain(headers, base)) {
        return Ok(Some(TenantSelector::Slug(slug)));
    }
    let path_slug = match path_slug {
        Some(slug) => Some(
            validate_slug(&slug)
                .map_err(|_| AppError::new(ErrorCode::TenantNotFound, "tenant not found"))?,
        ),
        None => None,
    };
    if let Some(domain) = custom_domain(headers, base_domain) {
        return Ok(Some(TenantSelector::Domain(domain, path_slug)));
    }
    Ok(path_slug.map(TenantSelector::Slug))
}

/// The `Host` without its port, lower-cased.
fn host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Some(
        host.rsplit_once(':')
            .map_or(host, |(h, _)| h)
            .to_ascii_lowercase(),
    )
}

/// The `Host` as a candidate custom domain: a dotted name that is not an address, not
/// `localhost` and not the base domain or one of its subdomains.
fn custom_domain(headers: &HeaderMap, base_domain: Option<&str>) -> Option<String> {
    let host = host(headers)?;
    let is_address = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    let under_base = base_domain.is_some_and(|b| {
        let b = b.trim_matches('.').to_ascii_lowercase();
        host == b || host.ends_with(&format!(".{b}"))
    });
    let valid = host.contains('.')
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (valid && !is_address && !under_base && host != "localhost").then_some(host)
}

/// `acme` for `Host: acme.example.com` (any port) when the base domain is `example.com`.
fn subdomain(headers: &HeaderMap, base: &str) -> Option<String> {
    let host = host(headers)?;
    let label = host.strip_suffix(&format!(".{}", base.trim_matches('.').to_ascii_lowercase()))?;
    validate_slug(label).ok()
}

fn tenant_from_headers(headers: &HeaderMap) -> AppResult<Option<TenantSelector>> {
    if let Some(id) = headers.get("x-tenant-id") {
        let id = id
            .to_str()
            .ok()
            .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
            .ok_or_else(|| AppError::bad_input("X-Tenant-ID", "must be a tenant id (uuid)"))?;
        return Ok(Some(TenantSelector::Id(TenantId(id))));
    }
    if let Some(slug) = headers.get("x-tenant-slug") {
        let slug = slug
            .to_str()
            .ok()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty() && s.len() <= 63)
            .ok_or_else(|| AppError::bad_input("X-Tenant-Slug", "must be a tenant slug"))?;
        return Ok(Some(TenantSelector::Slug(slug)));
    }
    Ok(None)
}
