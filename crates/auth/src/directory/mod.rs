//! The authorization directory (reference §9): roles, organizations and members, client grants and APIs, read by
//! every login and token request from an in-memory copy ([`Directory`]) and changed through the store.
//!
//! The store is the truth; the copy is reloaded after every change this process makes and, for changes made by
//! another process on the same store, whenever [`Store::documents_version`] moves (the server checks it every
//! second). What `gatehouse.toml` declares (`[[roles]]`, `[[organizations]]`, `[[client_grants]]`, `[[apis]]`) is
//! written into the store at every start, as a deployment tool would: the file wins for what it names, and what the
//! Management API created is kept.

use gatehouse_store::{Collection, Store, StoreError, StoreResult};
use gatehouse_types::config::{ApiConfig, TenantConfig};
use gatehouse_types::directory::{ClientGrant, EnabledConnection, Membership, Organization, Role};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::event::DATABASE_CONNECTION_ID;

pub mod client_grants;
pub mod consents;
pub mod organizations;
pub mod resource_servers;
pub mod roles;

/// A copy of the directory at one version of the store.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// [`Store::documents_version`] when it was read.
    pub version: u64,
    /// Every role, by name.
    pub roles: Vec<Role>,
    /// Every organization, by id.
    pub organizations: Vec<Organization>,
    /// Every membership, by organization then user.
    pub members: Vec<Membership>,
    /// Every client grant.
    pub client_grants: Vec<ClientGrant>,
    /// Every API.
    pub apis: Vec<ApiConfig>,
}

impl Directory {
    /// Reads the whole directory. The version is read first, so a change racing the read makes the next check
    /// read again rather than be missed.
    pub async fn load(store: &dyn Store) -> StoreResult<Directory> {
        let version = store.documents_version().await?;
        let mut roles: Vec<Role> = list(store, Collection::Role, "").await?;
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Directory {
            version,
            roles,
            organizations: list(store, Collection::Organization, "").await?,
            members: list(store, Collection::Member, "").await?,
            client_grants: list(store, Collection::ClientGrant, "").await?,
            apis: list(store, Collection::ResourceServer, "").await?,
        })
    }

    /// The API with this identifier.
    pub fn api(&self, audience: &str) -> Option<&ApiConfig> {
        self.apis.iter().find(|a| a.identifier == audience)
    }

    /// The role with this id.
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    /// The role with this name.
    pub fn role_named(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The organization with this id or name.
    pub fn organization(&self, id_or_name: &str) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id_or_name || o.name == id_or_name)
    }

    /// `user_id`'s membership of `org_id`.
    pub fn membership(&self, org_id: &str, user_id: &str) -> Option<&Membership> {
        self.members.iter().find(|m| m.org_id == org_id && m.user_id == user_id)
    }

    /// The organizations `user_id` is a member of.
    pub fn organizations_of(&self, user_id: &str) -> Vec<&Organization> {
        self.organizations.iter().filter(|o| self.membership(&o.id, user_id).is_some()).collect()
    }

    /// The grant letting `client_id` call `audience`.
    pub fn client_grant(&self, client_id: &str, audience: &str) -> Option<&ClientGrant> {
        self.client_grants.iter().find(|g| g.client_id == client_id && g.audience == audience)
    }

    /// The permissions the roles named `roles` grant for the API `audience`, sorted, without repeats. A name no
    /// role has grants nothing (roles are also plain labels for actions, `event.authorization.roles`).
    pub fn permissions(&self, roles: &[String], audience: &str) -> Vec<String> {
        let mut found: Vec<String> = self
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
}

/// Every document of a collection, decoded.
pub async fn list<T: DeserializeOwned>(store: &dyn Store, collection: Collection, prefix: &str) -> StoreResult<Vec<T>> {
    store.list_documents(collection, prefix).await?.iter().map(|(key, value)| decode(key, value)).collect()
}

/// One document, decoded.
pub async fn find<T: DeserializeOwned>(store: &dyn Store, collection: Collection, key: &str) -> StoreResult<Option<T>> {
    store.find_document(collection, key).await?.map(|value| decode(key, &value)).transpose()
}

/// Saves one document.
pub async fn save<T: Serialize>(store: &dyn Store, collection: Collection, key: &str, value: &T) -> StoreResult<()> {
    store.save_document(collection, key, &encode(value)?).await
}

/// A document as stored.
pub fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored document.
pub fn decode<T: DeserializeOwned>(key: &str, value: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt(format!("document {key:?}: {e}")))
}

/// The key of a membership.
pub fn member_key(org_id: &str, user_id: &str) -> String {
    format!("{org_id}\0{user_id}")
}

/// An id derived from a name, for what the configuration declares (the same on every start and every process).
pub fn derived_id(prefix: &str, name: &str) -> String {
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{prefix}{}", &digest[..16])
}

/// Claims `name` for the document `id` in a unique-name index; returns the id that holds it (`id`, or the one
/// that already did).
pub async fn claim_name(store: &dyn Store, index: Collection, name: &str, id: &str) -> StoreResult<String> {
    if store.create_document(index, name, id.as_bytes()).await? {
        return Ok(id.to_owned());
    }
    let held = store.find_document(index, name).await?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&held).into_owned())
}

/// Writes what the configuration declares into the store (at every start). Members are named by email: an
/// address no user has is skipped with a warning (the user may be created later; list them again then).
pub async fn apply_config(config: &TenantConfig, store: &dyn Store) -> Result<(), String> {
    let fail = |what: &str, e: StoreError| format!("writing {what} from the configuration: {e}");
    for api in &config.apis {
        save(store, Collection::ResourceServer, &api.identifier, api).await.map_err(|e| fail("[[apis]]", e))?;
    }
    for declared in &config.roles {
        let id = claim_name(store, Collection::RoleName, &declared.name, &derived_id("rol_", &declared.name))
            .await
            .map_err(|e| fail("[[roles]]", e))?;
        let role = Role {
            id: id.clone(),
            name: declared.name.clone(),
            description: declared.description.clone(),
            permissions: declared.permissions.clone(),
        };
        save(store, Collection::Role, &id, &role).await.map_err(|e| fail("[[roles]]", e))?;
    }
    for declared in &config.organizations {
        let holder = claim_name(store, Collection::OrganizationName, &declared.name, &declared.id)
            .await
            .map_err(|e| fail("[[organizations]]", e))?;
        if holder != declared.id {
            return Err(format!(
                "[[organizations]] {}: the name '{}' belongs to {holder}, created through the Management API; \
                 rename one of them",
                declared.id, declared.name
            ));
        }
        let org = Organization {
            id: declared.id.clone(),
            name: declared.name.clone(),
            display_name: declared.display_name.clone(),
            metadata: declared.metadata.clone(),
            enabled_connections: vec![EnabledConnection {
                connection_id: DATABASE_CONNECTION_ID.to_owned(),
                assign_membership_on_login: false,
            }],
        };
        save(store, Collection::Organization, &org.id, &org).await.map_err(|e| fail("[[organizations]]", e))?;
        for member in &declared.members {
            let user = store.find_user_by_email(&member.email).await.map_err(|e| fail("members", e))?;
            let Some(user) = user else {
                tracing::warn!(organization = %org.id, email = %member.email, "a member no user has; skipped");
                continue;
            };
            let membership = Membership { org_id: org.id.clone(), user_id: user.user_id, roles: member.roles.clone() };
            save(store, Collection::Member, &member_key(&org.id, &membership.user_id), &membership)
                .await
                .map_err(|e| fail("members", e))?;
        }
    }
    for declared in &config.client_grants {
        let id = derived_id("cgr_", &format!("{}\0{}", declared.client_id, declared.audience));
        let organizations = declared
            .organizations
            .iter()
            .map(|o| config.organization(o).map(|org| org.id.clone()).unwrap_or_else(|| o.clone()))
            .collect();
        let grant = ClientGrant {
            id: id.clone(),
            client_id: declared.client_id.clone(),
            audience: declared.audience.clone(),
            scope: declared.scopes.clone(),
            organization_usage: declared.organization_usage,
            allow_any_organization: declared.allow_any_organization,
            organizations,
        };
        save(store, Collection::ClientGrant, &id, &grant).await.map_err(|e| fail("[[client_grants]]", e))?;
    }
    Ok(())
}

/// What a change to the directory can fail with (the Management API maps each to its status and `errorCode`).
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// No such role, organization, grant, API or user; `code` is Auth0's `errorCode` (`inexistent_role`, ...).
    #[error("{message}")]
    NotFound {
        /// Auth0's `errorCode`.
        code: &'static str,
        /// The sentence.
        message: String,
    },
    /// A unique name or pair is taken.
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        DirectoryError::Internal(e.to_string())
    }
}

impl From<crate::AuthError> for DirectoryError {
    fn from(e: crate::AuthError) -> Self {
        DirectoryError::Internal(e.to_string())
    }
}

/// Result of directory changes.
pub type DirectoryResult<T> = Result<T, DirectoryError>;

pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> DirectoryError {
    DirectoryError::NotFound { code, message: message.into() }
}
