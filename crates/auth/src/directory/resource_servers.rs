//! APIs (resource servers): their RBAC, token dialect, refresh and consent settings, changed at runtime. An API is
//! declared in `[[apis]]`; the Management API changes it until the next start writes the file's version again.

use std::collections::BTreeMap;

use gatehouse_store::Collection;
use gatehouse_types::config::{ApiConfig, TokenDialect};
use sha2::{Digest, Sha256};

use super::{DirectoryError, DirectoryResult, decode, encode, not_found};
use crate::tenant::Tenant;

/// An API's Management API id: 24 hex digits derived from its identifier.
pub fn api_id(identifier: &str) -> String {
    hex::encode(Sha256::digest(identifier.as_bytes()))[..24].to_owned()
}

/// The API with this id or identifier.
pub fn find_api(tenant: &Tenant, id: &str) -> DirectoryResult<ApiConfig> {
    let directory = tenant.directory();
    let found = directory.apis.iter().find(|a| a.identifier == id || api_id(&a.identifier) == id);
    found.cloned().ok_or_else(|| not_found("inexistent_resource_server", format!("No resource server found for {id}")))
}

/// A change to an API; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default)]
pub struct ApiChange {
    /// Display name.
    pub name: Option<String>,
    /// Scopes with their descriptions (replaces both).
    pub scopes: Option<Vec<(String, String)>>,
    /// Access token lifetime, seconds.
    pub token_lifetime: Option<u64>,
    /// RBAC.
    pub enforce_policies: Option<bool>,
    /// The access token's profile.
    pub token_dialect: Option<TokenDialect>,
    /// Refresh tokens for this API.
    pub allow_offline_access: Option<bool>,
    /// First-party clients skip consent.
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
}

/// Changes an API's settings.
pub async fn update_api(tenant: &Tenant, id: &str, change: ApiChange) -> DirectoryResult<ApiConfig> {
    let identifier = find_api(tenant, id)?.identifier;
    if let Some(scopes) = &change.scopes
        && let Some((bad, _)) = scopes.iter().find(|(v, _)| v.is_empty() || v.contains(char::is_whitespace))
    {
        return Err(DirectoryError::BadRequest(format!("A scope is non-empty without whitespace (got {bad:?}).")));
    }
    if change.token_lifetime.is_some_and(|t| t == 0 || t > 2_592_000) {
        return Err(DirectoryError::BadRequest("token_lifetime is 1 to 2592000 seconds.".into()));
    }
    let stored = tenant
        .store
        .update_document(Collection::ResourceServer, &identifier, &|old| {
            let mut api: ApiConfig = decode("resource server", old).ok()?;
            if let Some(name) = &change.name {
                api.name = name.clone();
            }
            if let Some(scopes) = &change.scopes {
                api.scopes = scopes.iter().map(|(v, _)| v.clone()).collect();
                api.scope_descriptions = scopes
                    .iter()
                    .filter(|(_, d)| !d.is_empty())
                    .map(|(v, d)| (v.clone(), d.clone()))
                    .collect::<BTreeMap<_, _>>();
            }
            if let Some(lifetime) = change.token_lifetime {
                api.token_lifetime = lifetime;
            }
            if let Some(enforce) = change.enforce_policies {
                api.enforce_policies = enforce;
            }
            if let Some(dialect) = change.token_dialect {
                api.token_dialect = dialect;
                api.add_permissions = false;
            }
            if let Some(offline) = change.allow_offline_access {
                api.allow_offline_access = offline;
            }
            if let Some(skip) = change.skip_consent_for_verifiable_first_party_clients {
                api.skip_consent_for_verifiable_first_party_clients = skip;
            }
            encode(&api).ok()
        })
        .await?
        .ok_or_else(|| not_found("inexistent_resource_server", format!("No resource server found for {id}")))?;
    tenant.reload_directory().await?;
    Ok(decode(&identifier, &stored)?)
}
