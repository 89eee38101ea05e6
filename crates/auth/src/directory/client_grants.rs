//! Client grants: which API a machine-to-machine client may get `client_credentials` tokens for, with which scopes
//! and for which organizations. One grant per client and API (its id derives from the pair, so two parallel creates
//! cannot both succeed).

use gatehouse_store::Collection;
use gatehouse_types::config::OrganizationUsage;
use gatehouse_types::directory::ClientGrant;

use super::{DirectoryError, DirectoryResult, decode, derived_id, encode, not_found};
use crate::tenant::Tenant;

/// A change to a grant; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct GrantChange {
    /// Replaces the scopes.
    pub scope: Option<Vec<String>>,
    /// `deny`, `allow` or `require`.
    pub organization_usage: Option<OrganizationUsage>,
    /// Any organization may be named.
    pub allow_any_organization: Option<bool>,
}

/// The grant `id` does not exist (Auth0's 404).
pub(crate) fn missing(id: &str) -> DirectoryError {
    not_found("inexistent_client_grant", format!("The client grant {id} does not exist."))
}

/// The grant with this id.
pub fn find_grant(tenant: &Tenant, id: &str) -> DirectoryResult<ClientGrant> {
    tenant.directory().client_grants.iter().find(|g| g.id == id).cloned().ok_or_else(|| missing(id))
}

/// Scopes must be the API's own (the Management API's audience takes any of its scopes).
fn check_scopes(tenant: &Tenant, audience: &str, scope: &[String]) -> DirectoryResult<()> {
    if audience == tenant.config.management_audience() {
        return Ok(());
    }
    let directory = tenant.directory();
    let Some(api) = directory.api(audience) else {
        return Err(not_found("inexistent_resource_server", format!("No resource server found for {audience}")));
    };
    match scope.iter().find(|s| !api.scopes.contains(s)) {
        Some(s) => Err(DirectoryError::BadRequest(format!("The scope {s} is not defined by {audience}."))),
        None => Ok(()),
    }
}

/// Creates the grant of `client_id` for `audience`; 409 when the pair has one.
pub async fn create_grant(
    tenant: &Tenant,
    client_id: &str,
    audience: &str,
    change: GrantChange,
) -> DirectoryResult<ClientGrant> {
    if tenant.config.client(client_id).is_none() {
        return Err(not_found("inexistent_client", format!("No client found with id {client_id}")));
    }
    let scope = change.scope.unwrap_or_default();
    check_scopes(tenant, audience, &scope)?;
    let grant = ClientGrant {
        id: derived_id("cgr_", &format!("{client_id}\0{audience}")),
        client_id: client_id.to_owned(),
        audience: audience.to_owned(),
        scope,
        organization_usage: change.organization_usage.unwrap_or_default(),
        allow_any_organization: change.allow_any_organization.unwrap_or(false),
        organizations: Vec::new(),
    };
    if !tenant.store.create_document(Collection::ClientGrant, &grant.id, &encode(&grant)?).await? {
        return Err(DirectoryError::Conflict(format!("A client grant for {client_id} and {audience} already exists.")));
    }
    tenant.reload_directory().await?;
    Ok(grant)
}

/// Changes a grant's scopes or organization settings.
pub async fn update_grant(tenant: &Tenant, id: &str, change: GrantChange) -> DirectoryResult<ClientGrant> {
    let current = find_grant(tenant, id)?;
    if let Some(scope) = &change.scope {
        check_scopes(tenant, &current.audience, scope)?;
    }
    let stored = tenant
        .store
        .update_document(Collection::ClientGrant, id, &|old| {
            let mut grant: ClientGrant = decode("client grant", old).ok()?;
            if let Some(scope) = &change.scope {
                grant.scope = scope.clone();
            }
            if let Some(usage) = change.organization_usage {
                grant.organization_usage = usage;
            }
            if let Some(any) = change.allow_any_organization {
                grant.allow_any_organization = any;
            }
            encode(&grant).ok()
        })
        .await?
        .ok_or_else(|| missing(id))?;
    tenant.reload_directory().await?;
    Ok(decode(id, &stored)?)
}

/// Deletes a grant.
pub async fn delete_grant(tenant: &Tenant, id: &str) -> DirectoryResult<()> {
    if !tenant.store.delete_document(Collection::ClientGrant, id).await? {
        return Err(missing(id));
    }
    tenant.reload_directory().await?;
    Ok(())
}
