//! The authorization directory (reference §9): roles, organizations and their members, client grants, and users'
//! consents, as the store keeps them. `[[roles]]`, `[[organizations]]`, `[[client_grants]]` and `[[apis]]` in the
//! configuration are written into it at every start; the Management API changes it at runtime.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::OrganizationUsage;

/// A role: a name users and organization members hold, and the permissions it grants per API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// `rol_` and 16 letters or digits.
    pub id: String,
    /// Unique in the tenant; what `event.authorization.roles` lists.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// API identifier → permission names (scopes of that API).
    #[serde(default)]
    pub permissions: BTreeMap<String, Vec<String>>,
}

/// An organization (Auth0 Organizations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// `org_` and letters or digits.
    pub id: String,
    /// Unique machine name (`/authorize?organization=` takes it or the id).
    pub name: String,
    /// Shown to people.
    #[serde(default)]
    pub display_name: String,
    /// `event.organization.metadata`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The connections its members log in with (Auth0 requires one for a login through the organization).
    #[serde(default)]
    pub enabled_connections: Vec<EnabledConnection>,
}

/// A connection enabled for an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnabledConnection {
    /// The connection's id.
    pub connection_id: String,
    /// Whether a user of the connection becomes a member by logging in through the organization.
    #[serde(default)]
    pub assign_membership_on_login: bool,
}

/// A user's membership of an organization and their roles in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The organization.
    pub org_id: String,
    /// The member.
    pub user_id: String,
    /// Role names in this organization.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A client grant: a client may get `client_credentials` tokens for an API, with these scopes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientGrant {
    /// `cgr_` and 16 letters or digits.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The API.
    pub audience: String,
    /// Scopes granted.
    #[serde(default)]
    pub scope: Vec<String>,
    /// Tokens for an organization: `deny`, `allow`, `require`.
    #[serde(default)]
    pub organization_usage: OrganizationUsage,
    /// Any organization may be named.
    #[serde(default)]
    pub allow_any_organization: bool,
    /// The organization ids that may be named, without `allow_any_organization`.
    #[serde(default)]
    pub organizations: Vec<String>,
}

/// A user's consent to a client for an audience (Auth0's user grant, `/api/v2/grants`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    /// Random id.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The API, or `<issuer>userinfo` when the login asked for none.
    pub audience: String,
    /// Scopes consented to.
    pub scope: Vec<String>,
    /// ISO 8601.
    pub created_at: String,
    /// ISO 8601.
    pub updated_at: String,
}
