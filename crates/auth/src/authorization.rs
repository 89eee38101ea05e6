//! Role-based access control (reference §9.1): the permissions a user's roles grant for an API (`[[roles]]`), and
//! what an API with `enforce_policies` does with them: the granted API scopes are the requested ones the user holds
//! a permission for (actions that add or remove scopes still win, as in Auth0), and with an `*_authz` token dialect
//! the access token lists every permission the user holds for that API.

use gatehouse_types::config::TenantConfig;
use gatehouse_types::records::User;

/// The permissions `roles` grant for the API `audience`, sorted and without repeats. A role name the
/// configuration does not define grants nothing (roles are also plain labels for actions,
/// `event.authorization.roles`).
pub fn permissions(config: &TenantConfig, roles: &[String], audience: &str) -> Vec<String> {
    let mut found: Vec<String> = config
        .roles
        .iter()
        .filter(|role| roles.contains(&role.name))
        .filter_map(|role| role.permissions.get(audience))
        .flatten()
        .cloned()
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The roles that count for `user` in a login: their roles in `organization` when the login goes through one
/// (reference §9.1: permissions reflect only the roles within that organization), else their own.
pub fn roles(config: &TenantConfig, user: &User, organization: Option<&str>) -> Vec<String> {
    match organization {
        Some(id) => config
            .organization(id)
            .and_then(|org| org.member(&user.email))
            .map(|member| member.roles.clone())
            .unwrap_or_default(),
        None => user.roles.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TenantConfig {
        serde_json::from_value(serde_json::json!({
            "issuer": "http://127.0.0.1:3000/",
            "apis": [
                { "identifier": "https://api.example.com/", "name": "API",
                  "scopes": ["read:data", "write:data", "delete:data"] },
                { "identifier": "https://other.example.com/", "name": "Other", "scopes": ["read:other"] }
            ],
            "roles": [
                { "name": "viewer", "permissions": { "https://api.example.com/": ["read:data"],
                                                     "https://other.example.com/": ["read:other"] } },
                { "name": "editor", "permissions": { "https://api.example.com/": ["write:data", "read:data"] } }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn roles_grant_their_permissions_per_api_sorted_once() {
        let config = config();
        let both = ["viewer".to_owned(), "editor".to_owned()];
        assert_eq!(permissions(&config, &both, "https://api.example.com/"), ["read:data", "write:data"]);
        assert_eq!(permissions(&config, &both, "https://other.example.com/"), ["read:other"]);
        assert!(permissions(&config, &["admin".to_owned()], "https://api.example.com/").is_empty());
        assert!(permissions(&config, &both, "https://unknown.example.com/").is_empty());
    }
}
