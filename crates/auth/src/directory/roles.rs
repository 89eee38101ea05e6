//! Roles: create, rename, delete, their permissions per API, and who holds them (users directly; organization
//! members hold roles per organization, see [`super::organizations`]). Users keep role names, so a rename or a delete
//! rewrites the users and memberships that name the role.

use std::collections::BTreeMap;

use gatehouse_store::Collection;
use gatehouse_types::directory::{Membership, Role};
use gatehouse_types::records::User;

use super::{DirectoryError, DirectoryResult, claim_name, decode, encode, find, list, not_found, save};
use crate::tenant::Tenant;

/// A permission of an API, as the Management API names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// The API's identifier.
    pub resource_server_identifier: String,
    /// The scope.
    pub permission_name: String,
}

/// The role with `id`.
pub async fn find_role(tenant: &Tenant, id: &str) -> DirectoryResult<Role> {
    find(tenant.store.as_ref(), Collection::Role, id).await?.ok_or_else(|| missing_role(id))
}

fn missing_role(id: &str) -> DirectoryError {
    not_found("inexistent_role", format!("The role {id} does not exist."))
}

fn check_name(name: &str) -> DirectoryResult<()> {
    if name.trim().is_empty() || name.len() > 50 {
        return Err(DirectoryError::BadRequest("A role's name is 1 to 50 characters.".into()));
    }
    Ok(())
}

/// Creates a role; its name must be free.
pub async fn create_role(tenant: &Tenant, name: &str, description: &str) -> DirectoryResult<Role> {
    check_name(name)?;
    let id = crate::ids::public_id("rol_")?;
    if claim_name(tenant.store.as_ref(), Collection::RoleName, name, &id).await? != id {
        return Err(DirectoryError::Conflict(format!("A role with the name {name} already exists.")));
    }
    let role = Role {
        id: id.clone(),
        name: name.to_owned(),
        description: description.to_owned(),
        permissions: BTreeMap::new(),
    };
    save(tenant.store.as_ref(), Collection::Role, &id, &role).await?;
    tenant.reload_directory().await?;
    Ok(role)
}

/// Renames a role or changes its description. A new name is claimed before the old one is released, and the
/// users and members holding the role are rewritten to it.
pub async fn update_role(
    tenant: &Tenant,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> DirectoryResult<Role> {
    let store = tenant.store.as_ref();
    let before = find_role(tenant, id).await?;
    let renamed = name.filter(|n| *n != before.name);
    if let Some(name) = renamed {
        check_name(name)?;
        if claim_name(store, Collection::RoleName, name, id).await? != id {
            return Err(DirectoryError::Conflict(format!("A role with the name {name} already exists.")));
        }
    }
    let name_owned = name.map(str::to_owned);
    let description_owned = description.map(str::to_owned);
    let change = move |old: &Vec<u8>| {
        let mut role: Role = decode("role", old).ok()?;
        if let Some(name) = &name_owned {
            role.name = name.clone();
        }
        if let Some(description) = &description_owned {
            role.description = description.clone();
        }
        encode(&role).ok()
    };
    let stored = store.update_document(Collection::Role, id, &change).await?.ok_or_else(|| missing_role(id))?;
    let role: Role = decode(id, &stored)?;
    if let Some(name) = renamed {
        store.delete_document(Collection::RoleName, &before.name).await?;
        rename_everywhere(tenant, &before.name, Some(name)).await?;
    }
    tenant.reload_directory().await?;
    Ok(role)
}

/// Deletes a role and takes it from every user and member.
pub async fn delete_role(tenant: &Tenant, id: &str) -> DirectoryResult<()> {
    let role = find_role(tenant, id).await?;
    let store = tenant.store.as_ref();
    store.delete_document(Collection::Role, id).await?;
    store.delete_document(Collection::RoleName, &role.name).await?;
    rename_everywhere(tenant, &role.name, None).await?;
    tenant.reload_directory().await?;
    Ok(())
}

/// Replaces the role name `old` by `new` (or removes it) in users and memberships.
async fn rename_everywhere(tenant: &Tenant, old: &str, new: Option<&str>) -> DirectoryResult<()> {
    let store = tenant.store.as_ref();
    let rewrite = |roles: &mut Vec<String>| {
        let before = roles.len();
        roles.retain(|r| r != old);
        let held = roles.len() != before;
        if let (true, Some(new)) = (held, new)
            && !roles.iter().any(|r| r == new)
        {
            roles.push(new.to_owned());
        }
        held
    };
    // Each holder is changed atomically: a login's count or another role change landing meanwhile stays.
    for listed in store.list_users().await? {
        if listed.roles.iter().any(|r| r == old) {
            let change = |user: &User| {
                let mut user = user.clone();
                rewrite(&mut user.roles).then_some(user)
            };
            store.update_user(&listed.user_id, &change).await?;
        }
    }
    let members: Vec<Membership> = list(store, Collection::Member, "").await?;
    for listed in members {
        if listed.roles.iter().any(|r| r == old) {
            let change = |raw: &Vec<u8>| {
                let mut member: Membership = decode("membership", raw).ok()?;
                if rewrite(&mut member.roles) { encode(&member).ok() } else { None }
            };
            let key = super::member_key(&listed.org_id, &listed.user_id);
            store.update_document(Collection::Member, &key, &change).await?;
        }
    }
    Ok(())
}

/// The role's permissions, by API then name.
pub fn permissions_of(role: &Role) -> Vec<Permission> {
    let mut found: Vec<Permission> = role
        .permissions
        .iter()
        .flat_map(|(api, names)| {
            names
                .iter()
                .map(move |name| Permission { resource_server_identifier: api.clone(), permission_name: name.clone() })
        })
        .collect();
    found.sort();
    found
}

/// Adds (`add = true`) or removes permissions. An added permission must be a scope its API defines.
pub async fn change_permissions(
    tenant: &Tenant,
    id: &str,
    permissions: &[Permission],
    add: bool,
) -> DirectoryResult<Role> {
    find_role(tenant, id).await?;
    if add {
        let directory = tenant.directory();
        for p in permissions {
            let Some(api) = directory.api(&p.resource_server_identifier) else {
                return Err(not_found(
                    "inexistent_resource_server",
                    format!("The resource server {} does not exist.", p.resource_server_identifier),
                ));
            };
            if !api.scopes.contains(&p.permission_name) {
                return Err(DirectoryError::BadRequest(format!(
                    "Permission {} does not exist on the resource server {}.",
                    p.permission_name, p.resource_server_identifier
                )));
            }
        }
    }
    let wanted = permissions.to_vec();
    let change = move |old: &Vec<u8>| {
        let mut role: Role = decode("role", old).ok()?;
        for p in &wanted {
            let names = role.permissions.entry(p.resource_server_identifier.clone()).or_default();
            names.retain(|n| *n != p.permission_name);
            if add {
                names.push(p.permission_name.clone());
                names.sort();
            }
        }
        role.permissions.retain(|_, names| !names.is_empty());
        encode(&role).ok()
    };
    let stored = tenant.store.update_document(Collection::Role, id, &change).await?.ok_or_else(|| missing_role(id))?;
    tenant.reload_directory().await?;
    Ok(decode(id, &stored)?)
}

/// The users holding the role directly (not through an organization).
pub async fn users_with(tenant: &Tenant, id: &str) -> DirectoryResult<Vec<User>> {
    let role = find_role(tenant, id).await?;
    let users = tenant.store.list_users().await?;
    Ok(users.into_iter().filter(|u| u.roles.contains(&role.name)).collect())
}

/// Gives (`add = true`) or takes the roles `ids` to or from a user. Every id must name a role.
pub async fn change_user_roles(tenant: &Tenant, user_id: &str, ids: &[String], add: bool) -> DirectoryResult<User> {
    let names = role_names(tenant, ids).await?;
    let now = tenant.now_iso();
    // One atomic change of the stored user: parallel role changes (and logins) are all kept.
    let change = |current: &User| {
        let mut user = current.clone();
        for name in &names {
            user.roles.retain(|r| r != name);
            if add {
                user.roles.push(name.clone());
            }
        }
        user.updated_at = now.clone();
        Some(user)
    };
    match tenant.store.update_user(user_id, &change).await? {
        Some(user) => Ok(user),
        None => Err(not_found("inexistent_user", "The user does not exist.")),
    }
}

/// The names of the roles `ids`; an unknown id is an error.
pub async fn role_names(tenant: &Tenant, ids: &[String]) -> DirectoryResult<Vec<String>> {
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        names.push(find_role(tenant, id).await?.name);
    }
    Ok(names)
}
