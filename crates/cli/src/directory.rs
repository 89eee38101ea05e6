//! `gatehouse roles` and `gatehouse orgs`: roles, their permissions and holders, organizations and their members,
//! from the command line. Offline on the store while the server is stopped; through its Management API while it
//! runs (sled allows one process), with a client the configuration grants the scopes, as `gatehouse users` does.

use std::path::Path;
use std::process::ExitCode;

use gatehouse_auth::directory::organizations::{self, OrganizationChange};
use gatehouse_auth::directory::roles::{self, Permission};
use gatehouse_auth::event::DATABASE_CONNECTION_ID;
use gatehouse_auth::tenant::Tenant;
use gatehouse_auth::users;
use gatehouse_types::directory::EnabledConnection;
use reqwest::Method;
use serde_json::{Value, json};

use crate::output;
use crate::users::{Backend, backend, call, encode, find_online};

/// `gatehouse roles ...`.
pub enum RolesCommand {
    /// Every role with its permissions.
    List,
    /// A new role.
    Add { name: String, description: String },
    /// Permissions of one API given to a role.
    Grant { role: String, api: String, permissions: Vec<String> },
    /// A role given to (`add`) or taken from a user.
    Assign { user: String, role: String, add: bool },
    /// A role deleted (its holders lose it).
    Delete { role: String },
}

/// `gatehouse orgs ...`.
pub enum OrgsCommand {
    /// Every organization with its members.
    List,
    /// A new organization, its members logging in with the database connection.
    Add { name: String, display_name: Option<String> },
    /// A user made a member, with roles in the organization.
    AddMember { org: String, user: String, roles: Vec<String> },
    /// A member removed.
    RemoveMember { org: String, user: String },
    /// An organization deleted with its memberships.
    Delete { org: String },
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fatal(&e),
    }
}

/// A role by id or name, offline.
fn offline_role(tenant: &Tenant, role: &str) -> Result<gatehouse_types::directory::Role, String> {
    let directory = tenant.directory();
    directory.role(role).or_else(|| directory.role_named(role)).cloned().ok_or_else(|| format!("no role {role}"))
}

/// A role's id by id or name, online.
async fn online_role(issuer: &str, token: &str, role: &str) -> Result<String, String> {
    let roles = call(issuer, token, Method::GET, "api/v2/roles?per_page=100", None).await?;
    roles
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["id"] == role || r["name"] == role)
        .and_then(|r| r["id"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("no role {role}"))
}

fn print_role(id: &str, name: &str, description: &str, permissions: &[String]) {
    output::line(&format!("{id}  {name}  {description}  [{}]", permissions.join(", ")));
}

/// Runs a `gatehouse roles` command.
pub async fn roles(config_path: &Path, command: RolesCommand) -> ExitCode {
    let scopes: &[&str] = match &command {
        RolesCommand::List => &["read:roles"],
        RolesCommand::Add { .. } => &["create:roles"],
        RolesCommand::Grant { .. } => &["read:roles", "update:roles"],
        RolesCommand::Assign { .. } => &["read:roles", "read:users", "update:users"],
        RolesCommand::Delete { .. } => &["read:roles", "delete:roles"],
    };
    let result = async {
        match (command, backend(config_path, scopes).await?) {
            (RolesCommand::List, Backend::Offline(tenant)) => {
                for role in &tenant.directory().roles {
                    let permissions: Vec<String> = roles::permissions_of(role)
                        .into_iter()
                        .map(|p| format!("{}{}", p.resource_server_identifier, p.permission_name))
                        .collect();
                    print_role(&role.id, &role.name, &role.description, &permissions);
                }
            }
            (RolesCommand::List, Backend::Online { issuer, token, .. }) => {
                let list = call(&issuer, &token, Method::GET, "api/v2/roles?per_page=100", None).await?;
                for role in list.as_array().cloned().unwrap_or_default() {
                    let id = role["id"].as_str().unwrap_or_default();
                    let path = format!("api/v2/roles/{}/permissions?per_page=100", encode(id));
                    let permissions: Vec<String> = call(&issuer, &token, Method::GET, &path, None)
                        .await?
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            format!(
                                "{}{}",
                                p["resource_server_identifier"].as_str().unwrap_or_default(),
                                p["permission_name"].as_str().unwrap_or_default()
                            )
                        })
                        .collect();
                    let text = |k: &str| role[k].as_str().unwrap_or_default().to_owned();
                    print_role(id, &text("name"), &text("description"), &permissions);
                }
            }
            (RolesCommand::Add { name, description }, Backend::Offline(tenant)) => {
                let role = roles::create_role(&tenant, &name, &description).await.map_err(fail)?;
                output::line(&format!("Created role {} ({})", role.name, role.id));
            }
            (RolesCommand::Add { name, description }, Backend::Online { issuer, token, .. }) => {
                let body = json!({ "name": name, "description": description });
                let role = call(&issuer, &token, Method::POST, "api/v2/roles", Some(body)).await?;
                output::line(&format!("Created role {name} ({})", role["id"].as_str().unwrap_or_default()));
            }
            (RolesCommand::Grant { role, api, permissions }, backend) => {
                let wanted: Vec<Permission> = permissions
                    .iter()
                    .map(|p| Permission { resource_server_identifier: api.clone(), permission_name: p.clone() })
                    .collect();
                match backend {
                    Backend::Offline(tenant) => {
                        let id = offline_role(&tenant, &role)?.id;
                        roles::change_permissions(&tenant, &id, &wanted, true).await.map_err(fail)?;
                    }
                    Backend::Online { issuer, token, .. } => {
                        let id = online_role(&issuer, &token, &role).await?;
                        let body = json!({ "permissions": wanted.iter().map(|p| json!({
                            "resource_server_identifier": p.resource_server_identifier,
                            "permission_name": p.permission_name,
                        })).collect::<Vec<Value>>() });
                        let path = format!("api/v2/roles/{}/permissions", encode(&id));
                        call(&issuer, &token, Method::POST, &path, Some(body)).await?;
                    }
                }
                output::line(&format!("Role {role} now grants {} on {api}", permissions.join(", ")));
            }
            (RolesCommand::Assign { user, role, add }, backend) => {
                match backend {
                    Backend::Offline(tenant) => {
                        let found = users::find_user_by_id_or_email(&tenant, &user).await.map_err(fail)?;
                        let id = offline_role(&tenant, &role)?.id;
                        roles::change_user_roles(&tenant, &found.user_id, &[id], add).await.map_err(fail)?;
                    }
                    Backend::Online { issuer, token, .. } => {
                        let found = find_online(&issuer, &token, &user).await?;
                        let user_id = found["user_id"].as_str().unwrap_or_default();
                        let id = online_role(&issuer, &token, &role).await?;
                        let method = if add { Method::POST } else { Method::DELETE };
                        let path = format!("api/v2/users/{}/roles", encode(user_id));
                        call(&issuer, &token, method, &path, Some(json!({ "roles": [id] }))).await?;
                    }
                }
                let done = if add { "now holds" } else { "no longer holds" };
                output::line(&format!("{user} {done} the role {role}"));
            }
            (RolesCommand::Delete { role }, Backend::Offline(tenant)) => {
                let id = offline_role(&tenant, &role)?.id;
                roles::delete_role(&tenant, &id).await.map_err(fail)?;
                output::line(&format!("Deleted role {role}"));
            }
            (RolesCommand::Delete { role }, Backend::Online { issuer, token, .. }) => {
                let id = online_role(&issuer, &token, &role).await?;
                call(&issuer, &token, Method::DELETE, &format!("api/v2/roles/{}", encode(&id)), None).await?;
                output::line(&format!("Deleted role {role}"));
            }
        }
        Ok(())
    }
    .await;
    finish(result)
}

/// An organization's id by id or name, online.
async fn online_org(issuer: &str, token: &str, org: &str) -> Result<Value, String> {
    if org.starts_with("org_") {
        return call(issuer, token, Method::GET, &format!("api/v2/organizations/{}", encode(org)), None).await;
    }
    call(issuer, token, Method::GET, &format!("api/v2/organizations/name/{}", encode(org)), None).await
}

/// Runs a `gatehouse orgs` command.
pub async fn orgs(config_path: &Path, command: OrgsCommand) -> ExitCode {
    let scopes: &[&str] = match &command {
        OrgsCommand::List => &["read:organizations", "read:organization_members"],
        OrgsCommand::Add { .. } => &["create:organizations"],
        OrgsCommand::AddMember { .. } => &[
            "read:organizations",
            "read:users",
            "read:roles",
            "create:organization_members",
            "create:organization_member_roles",
        ],
        OrgsCommand::RemoveMember { .. } => &["read:organizations", "read:users", "delete:organization_members"],
        OrgsCommand::Delete { .. } => &["read:organizations", "delete:organizations"],
    };
    let result = async {
        match (command, backend(config_path, scopes).await?) {
            (OrgsCommand::List, Backend::Offline(tenant)) => {
                let directory = tenant.directory();
                for org in &directory.organizations {
                    let mut members = Vec::new();
                    for m in directory.members.iter().filter(|m| m.org_id == org.id) {
                        let email = match tenant.store.find_user(&m.user_id).await.map_err(fail)? {
                            Some(user) => user.email,
                            None => m.user_id.clone(),
                        };
                        members.push(format!("{email} [{}]", m.roles.join(", ")));
                    }
                    output::line(&format!("{}  {}  {}  {}", org.id, org.name, org.display_name, members.join("; ")));
                }
            }
            (OrgsCommand::List, Backend::Online { issuer, token, .. }) => {
                let list = call(&issuer, &token, Method::GET, "api/v2/organizations?per_page=100", None).await?;
                for org in list.as_array().cloned().unwrap_or_default() {
                    let id = org["id"].as_str().unwrap_or_default();
                    let path = format!("api/v2/organizations/{}/members?per_page=100", encode(id));
                    let members: Vec<String> = call(&issuer, &token, Method::GET, &path, None)
                        .await?
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["email"].as_str().map(str::to_owned))
                        .collect();
                    let text = |k: &str| org[k].as_str().unwrap_or_default().to_owned();
                    output::line(&format!("{id}  {}  {}  {}", text("name"), text("display_name"), members.join("; ")));
                }
            }
            (OrgsCommand::Add { name, display_name }, Backend::Offline(tenant)) => {
                let change = OrganizationChange { name: Some(name), display_name, metadata: None };
                let connection = EnabledConnection {
                    connection_id: DATABASE_CONNECTION_ID.to_owned(),
                    assign_membership_on_login: false,
                };
                let org = organizations::create_organization(&tenant, change, vec![connection]).await.map_err(fail)?;
                output::line(&format!("Created organization {} ({})", org.name, org.id));
            }
            (OrgsCommand::Add { name, display_name }, Backend::Online { issuer, token, .. }) => {
                let body = json!({
                    "name": name,
                    "display_name": display_name.unwrap_or_default(),
                    "enabled_connections": [{ "connection_id": DATABASE_CONNECTION_ID }],
                });
                let org = call(&issuer, &token, Method::POST, "api/v2/organizations", Some(body)).await?;
                output::line(&format!("Created organization {name} ({})", org["id"].as_str().unwrap_or_default()));
            }
            (OrgsCommand::AddMember { org, user, roles: wanted }, Backend::Offline(tenant)) => {
                let found =
                    tenant.directory().organization(&org).cloned().ok_or_else(|| format!("no organization {org}"))?;
                let member = users::find_user_by_id_or_email(&tenant, &user).await.map_err(fail)?;
                organizations::add_members(&tenant, &found.id, std::slice::from_ref(&member.user_id))
                    .await
                    .map_err(fail)?;
                let ids =
                    wanted.iter().map(|r| offline_role(&tenant, r).map(|r| r.id)).collect::<Result<Vec<_>, _>>()?;
                if !ids.is_empty() {
                    organizations::change_member_roles(&tenant, &found.id, &member.user_id, &ids, true)
                        .await
                        .map_err(fail)?;
                }
                output::line(&format!("{} is a member of {} [{}]", member.email, found.name, wanted.join(", ")));
            }
            (OrgsCommand::AddMember { org, user, roles: wanted }, Backend::Online { issuer, token, .. }) => {
                let found = online_org(&issuer, &token, &org).await?;
                let org_id = found["id"].as_str().unwrap_or_default();
                let member = find_online(&issuer, &token, &user).await?;
                let user_id = member["user_id"].as_str().unwrap_or_default();
                let path = format!("api/v2/organizations/{}/members", encode(org_id));
                call(&issuer, &token, Method::POST, &path, Some(json!({ "members": [user_id] }))).await?;
                let mut ids = Vec::new();
                for role in &wanted {
                    ids.push(online_role(&issuer, &token, role).await?);
                }
                if !ids.is_empty() {
                    let path = format!("api/v2/organizations/{}/members/{}/roles", encode(org_id), encode(user_id));
                    call(&issuer, &token, Method::POST, &path, Some(json!({ "roles": ids }))).await?;
                }
                output::line(&format!("{user} is a member of {org} [{}]", wanted.join(", ")));
            }
            (OrgsCommand::RemoveMember { org, user }, Backend::Offline(tenant)) => {
                let found =
                    tenant.directory().organization(&org).cloned().ok_or_else(|| format!("no organization {org}"))?;
                let member = users::find_user_by_id_or_email(&tenant, &user).await.map_err(fail)?;
                organizations::remove_members(&tenant, &found.id, &[member.user_id]).await.map_err(fail)?;
                output::line(&format!("{user} is no longer a member of {org}"));
            }
            (OrgsCommand::RemoveMember { org, user }, Backend::Online { issuer, token, .. }) => {
                let found = online_org(&issuer, &token, &org).await?;
                let member = find_online(&issuer, &token, &user).await?;
                let path = format!("api/v2/organizations/{}/members", encode(found["id"].as_str().unwrap_or_default()));
                let body = json!({ "members": [member["user_id"]] });
                call(&issuer, &token, Method::DELETE, &path, Some(body)).await?;
                output::line(&format!("{user} is no longer a member of {org}"));
            }
            (OrgsCommand::Delete { org }, Backend::Offline(tenant)) => {
                let found =
                    tenant.directory().organization(&org).cloned().ok_or_else(|| format!("no organization {org}"))?;
                organizations::delete_organization(&tenant, &found.id).await.map_err(fail)?;
                output::line(&format!("Deleted organization {org}"));
            }
            (OrgsCommand::Delete { org }, Backend::Online { issuer, token, .. }) => {
                let found = online_org(&issuer, &token, &org).await?;
                let path = format!("api/v2/organizations/{}", encode(found["id"].as_str().unwrap_or_default()));
                call(&issuer, &token, Method::DELETE, &path, None).await?;
                output::line(&format!("Deleted organization {org}"));
            }
        }
        Ok::<(), String>(())
    }
    .await;
    finish(result)
}
