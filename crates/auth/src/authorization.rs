//! Role-based access control (reference §9.1): the roles that count in a login, and what an API with
//! `enforce_policies` does with them: the granted API scopes are the requested ones the user holds a permission for
//! (actions that add or remove scopes still win, as in Auth0), and with an `*_authz` token dialect the access token
//! lists every permission the user holds for that API ([`crate::directory::Directory::permissions`]).

use gatehouse_types::records::User;

use crate::directory::Directory;

/// The roles that count for `user` in a login: their roles in `organization` when the login goes through one
/// (reference §9.1: permissions reflect only the roles within that organization), else their own.
pub fn roles(directory: &Directory, user: &User, organization: Option<&str>) -> Vec<String> {
    match organization {
        Some(id) => directory.membership(id, &user.user_id).map(|member| member.roles.clone()).unwrap_or_default(),
        None => user.roles.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_types::directory::Role;

    fn role(name: &str, permissions: &[(&str, &[&str])]) -> Role {
        Role {
            id: format!("rol_{name}"),
            name: name.to_owned(),
            description: String::new(),
            permissions: permissions
                .iter()
                .map(|(api, p)| ((*api).to_owned(), p.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn roles_grant_their_permissions_per_api_sorted_once() {
        let directory = Directory {
            roles: vec![
                role(
                    "viewer",
                    &[("https://api.example.com/", &["read:data"]), ("https://other.example.com/", &["read:other"])],
                ),
                role("editor", &[("https://api.example.com/", &["write:data", "read:data"])]),
            ],
            ..Directory::default()
        };
        let both = ["viewer".to_owned(), "editor".to_owned()];
        assert_eq!(directory.permissions(&both, "https://api.example.com/"), ["read:data", "write:data"]);
        assert_eq!(directory.permissions(&both, "https://other.example.com/"), ["read:other"]);
        assert!(directory.permissions(&["admin".to_owned()], "https://api.example.com/").is_empty());
        assert!(directory.permissions(&both, "https://unknown.example.com/").is_empty());
    }
}
