//! Organizations: create, change, delete, their members and members' roles, their enabled connections, and the
//! client grants that may get tokens for them. A membership is its own document (`org_id\0user_id`), so adding
//! members never rewrites the organization and parallel changes to different members cannot lose each other.

use std::collections::BTreeMap;

use gatehouse_store::Collection;
use gatehouse_types::config::OrganizationUsage;
use gatehouse_types::directory::{ClientGrant, EnabledConnection, Membership, Organization};

use super::{DirectoryError, DirectoryResult, claim_name, decode, encode, find, list, member_key, not_found, save};
use crate::event::DATABASE_CONNECTION_ID;
use crate::tenant::Tenant;

/// What a new organization or a change says; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct OrganizationChange {
    /// Machine name.
    pub name: Option<String>,
    /// Shown to people.
    pub display_name: Option<String>,
    /// Replaces the metadata.
    pub metadata: Option<BTreeMap<String, String>>,
}

fn missing_org(id: &str) -> DirectoryError {
    not_found("inexistent_organization", format!("No organization found by that id or name: {id}"))
}

/// The organization with this id.
pub async fn find_organization(tenant: &Tenant, id: &str) -> DirectoryResult<Organization> {
    find(tenant.store.as_ref(), Collection::Organization, id).await?.ok_or_else(|| missing_org(id))
}

/// The organization with this name.
pub async fn find_organization_by_name(tenant: &Tenant, name: &str) -> DirectoryResult<Organization> {
    let Some(id) = tenant.store.find_document(Collection::OrganizationName, name).await? else {
        return Err(missing_org(name));
    };
    find_organization(tenant, &String::from_utf8_lossy(&id)).await
}

/// Auth0's rule for names: 1 to 50 lower-case letters, digits, `-` and `_`, starting with a letter or digit.
fn check_name(name: &str) -> DirectoryResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        return Ok(());
    }
    Err(DirectoryError::BadRequest(format!(
        "Payload validation error: 'name' must be 1 to 50 lower-case letters, digits, '-' or '_' (got {name:?})."
    )))
}

/// Creates an organization; its name must be free. `enabled_connections` as given (none by default, as in Auth0).
pub async fn create_organization(
    tenant: &Tenant,
    change: OrganizationChange,
    enabled_connections: Vec<EnabledConnection>,
) -> DirectoryResult<Organization> {
    let name = change.name.ok_or_else(|| {
        DirectoryError::BadRequest("Payload validation error: 'Missing required property: name'.".into())
    })?;
    check_name(&name)?;
    check_connections(&enabled_connections)?;
    let id = format!("org_{}", &crate::ids::hex(8)?);
    if claim_name(tenant.store.as_ref(), Collection::OrganizationName, &name, &id).await? != id {
        return Err(DirectoryError::Conflict("An organization with this name already exists.".into()));
    }
    let org = Organization {
        id: id.clone(),
        name,
        display_name: change.display_name.unwrap_or_default(),
        metadata: change.metadata.unwrap_or_default(),
        enabled_connections,
    };
    save(tenant.store.as_ref(), Collection::Organization, &id, &org).await?;
    tenant.reload_directory().await?;
    Ok(org)
}

fn check_connections(connections: &[EnabledConnection]) -> DirectoryResult<()> {
    match connections.iter().find(|c| c.connection_id != DATABASE_CONNECTION_ID) {
        Some(c) => Err(not_found("inexistent_connection", format!("No connection found with id {}", c.connection_id))),
        None => Ok(()),
    }
}

/// Changes an organization's name, display name or metadata.
pub async fn update_organization(
    tenant: &Tenant,
    id: &str,
    change: OrganizationChange,
) -> DirectoryResult<Organization> {
    let store = tenant.store.as_ref();
    let before = find_organization(tenant, id).await?;
    let renamed = change.name.clone().filter(|n| *n != before.name);
    if let Some(name) = &renamed {
        check_name(name)?;
        if claim_name(store, Collection::OrganizationName, name, id).await? != id {
            return Err(DirectoryError::Conflict("An organization with this name already exists.".into()));
        }
    }
    let stored = store
        .update_document(Collection::Organization, id, &|old| {
            let mut org: Organization = decode("organization", old).ok()?;
            if let Some(name) = &change.name {
                org.name = name.clone();
            }
            if let Some(display_name) = &change.display_name {
                org.display_name = display_name.clone();
            }
            if let Some(metadata) = &change.metadata {
                org.metadata = metadata.clone();
            }
            encode(&org).ok()
        })
        .await?
        .ok_or_else(|| missing_org(id))?;
    if renamed.is_some() {
        store.delete_document(Collection::OrganizationName, &before.name).await?;
    }
    tenant.reload_directory().await?;
    Ok(decode(id, &stored)?)
}

/// Deletes an organization with its memberships; client grants stop naming it.
pub async fn delete_organization(tenant: &Tenant, id: &str) -> DirectoryResult<()> {
    let org = find_organization(tenant, id).await?;
    let store = tenant.store.as_ref();
    for (key, _) in store.list_documents(Collection::Member, &format!("{id}\0")).await? {
        store.delete_document(Collection::Member, &key).await?;
    }
    let grants: Vec<ClientGrant> = list(store, Collection::ClientGrant, "").await?;
    for grant in grants.iter().filter(|g| g.organizations.iter().any(|o| o == id)) {
        set_grant_organization(tenant, &grant.id, id, false).await?;
    }
    store.delete_document(Collection::Organization, id).await?;
    store.delete_document(Collection::OrganizationName, &org.name).await?;
    tenant.reload_directory().await?;
    Ok(())
}

/// The organization's members.
pub async fn members(tenant: &Tenant, id: &str) -> DirectoryResult<Vec<Membership>> {
    find_organization(tenant, id).await?;
    Ok(list(tenant.store.as_ref(), Collection::Member, &format!("{id}\0")).await?)
}

/// Adds users (who must exist) as members; a member already there keeps their roles.
pub async fn add_members(tenant: &Tenant, id: &str, user_ids: &[String]) -> DirectoryResult<()> {
    find_organization(tenant, id).await?;
    let store = tenant.store.as_ref();
    for user_id in user_ids {
        if store.find_user(user_id).await?.is_none() {
            return Err(not_found("inexistent_user", format!("The user {user_id} does not exist.")));
        }
    }
    for user_id in user_ids {
        let membership = Membership { org_id: id.to_owned(), user_id: user_id.clone(), roles: Vec::new() };
        // `create` keeps an existing membership (and its roles) as it is.
        store.create_document(Collection::Member, &member_key(id, user_id), &encode(&membership)?).await?;
    }
    tenant.reload_directory().await?;
    Ok(())
}

/// Removes members (and their roles in the organization).
pub async fn remove_members(tenant: &Tenant, id: &str, user_ids: &[String]) -> DirectoryResult<()> {
    find_organization(tenant, id).await?;
    for user_id in user_ids {
        tenant.store.delete_document(Collection::Member, &member_key(id, user_id)).await?;
    }
    tenant.reload_directory().await?;
    Ok(())
}

/// A member's roles in the organization (names).
pub async fn member_roles(tenant: &Tenant, id: &str, user_id: &str) -> DirectoryResult<Vec<String>> {
    find_organization(tenant, id).await?;
    let membership: Option<Membership> =
        find(tenant.store.as_ref(), Collection::Member, &member_key(id, user_id)).await?;
    Ok(membership.ok_or_else(not_a_member)?.roles)
}

fn not_a_member() -> DirectoryError {
    not_found("inexistent_member", "The user is not a member of the organization.")
}

/// Gives (`add = true`) or takes roles (by id) to or from a member, atomically on the membership.
pub async fn change_member_roles(
    tenant: &Tenant,
    id: &str,
    user_id: &str,
    role_ids: &[String],
    add: bool,
) -> DirectoryResult<()> {
    find_organization(tenant, id).await?;
    let names = super::roles::role_names(tenant, role_ids).await?;
    let change = move |old: &Vec<u8>| {
        let mut membership: Membership = decode("membership", old).ok()?;
        for name in &names {
            membership.roles.retain(|r| r != name);
            if add {
                membership.roles.push(name.clone());
            }
        }
        encode(&membership).ok()
    };
    tenant
        .store
        .update_document(Collection::Member, &member_key(id, user_id), &change)
        .await?
        .ok_or_else(not_a_member)?;
    tenant.reload_directory().await?;
    Ok(())
}

/// Enables a connection (or changes its `assign_membership_on_login`).
pub async fn enable_connection(tenant: &Tenant, id: &str, connection: EnabledConnection) -> DirectoryResult<()> {
    check_connections(std::slice::from_ref(&connection))?;
    change_connections(tenant, id, move |list| {
        list.retain(|c| c.connection_id != connection.connection_id);
        list.push(connection.clone());
    })
    .await
}

/// The organization's enabled connection `connection_id` (Auth0's 404 when it is not enabled).
pub fn enabled_connection<'a>(org: &'a Organization, connection_id: &str) -> DirectoryResult<&'a EnabledConnection> {
    org.enabled_connections
        .iter()
        .find(|c| c.connection_id == connection_id)
        .ok_or_else(|| not_found("inexistent_connection", format!("The connection {connection_id} is not enabled.")))
}

/// Disables a connection.
pub async fn disable_connection(tenant: &Tenant, id: &str, connection_id: &str) -> DirectoryResult<()> {
    let org = find_organization(tenant, id).await?;
    enabled_connection(&org, connection_id)?;
    change_connections(tenant, id, |list| list.retain(|c| c.connection_id != connection_id)).await
}

async fn change_connections(
    tenant: &Tenant,
    id: &str,
    edit: impl Fn(&mut Vec<EnabledConnection>) + Send + Sync,
) -> DirectoryResult<()> {
    tenant
        .store
        .update_document(Collection::Organization, id, &|old| {
            let mut org: Organization = decode("organization", old).ok()?;
            edit(&mut org.enabled_connections);
            encode(&org).ok()
        })
        .await?
        .ok_or_else(|| missing_org(id))?;
    tenant.reload_directory().await?;
    Ok(())
}

/// Lets (`add = true`) or stops a client grant getting tokens for the organization. The grant must allow
/// organizations (`organization_usage` `allow` or `require`), as Auth0 requires.
pub async fn set_grant_organization(tenant: &Tenant, grant_id: &str, id: &str, add: bool) -> DirectoryResult<()> {
    let grant: ClientGrant = find(tenant.store.as_ref(), Collection::ClientGrant, grant_id)
        .await?
        .ok_or_else(|| super::client_grants::missing(grant_id))?;
    if add && grant.organization_usage == OrganizationUsage::Deny {
        return Err(DirectoryError::BadRequest(
            "The client grant's organization_usage must be allow or require to be associated with organizations."
                .into(),
        ));
    }
    let org = id.to_owned();
    tenant
        .store
        .update_document(Collection::ClientGrant, grant_id, &|old| {
            let mut grant: ClientGrant = decode("client grant", old).ok()?;
            grant.organizations.retain(|o| *o != org);
            if add {
                grant.organizations.push(org.clone());
            }
            encode(&grant).ok()
        })
        .await?;
    tenant.reload_directory().await?;
    Ok(())
}
