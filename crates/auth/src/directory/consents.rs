//! Users' consents (Auth0's user grants): what a user allowed a client to do for an audience. The consent page
//! records one; a later login of the same user, client and audience asking for no more skips the page.

use gatehouse_store::Collection;
use gatehouse_types::directory::Consent;

use super::{DirectoryError, DirectoryResult, decode, encode, find, list, not_found};
use crate::tenant::Tenant;

fn key(user_id: &str, client_id: &str, audience: &str) -> String {
    format!("{user_id}\0{client_id}\0{audience}")
}

/// The audience a consent is recorded for: the API, or the issuer's `/userinfo` when the login named none (as
/// Auth0 records it).
pub fn audience_of(tenant: &Tenant, audience: Option<&str>) -> String {
    audience.map(str::to_owned).unwrap_or_else(|| format!("{}userinfo", tenant.config.issuer))
}

/// The consent of `user_id` to `client_id` for `audience`.
pub async fn find_consent(
    tenant: &Tenant,
    user_id: &str,
    client_id: &str,
    audience: &str,
) -> DirectoryResult<Option<Consent>> {
    Ok(find(tenant.store.as_ref(), Collection::Consent, &key(user_id, client_id, audience)).await?)
}

/// Records that the user allowed `scope` (added to what they allowed before).
pub async fn record_consent(
    tenant: &Tenant,
    user_id: &str,
    client_id: &str,
    audience: &str,
    scope: &[String],
) -> DirectoryResult<Consent> {
    let store = tenant.store.as_ref();
    let now = tenant.now_iso();
    let key = key(user_id, client_id, audience);
    let fresh = Consent {
        id: crate::ids::public_id("cgrt_")?,
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        audience: audience.to_owned(),
        scope: scope.to_vec(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    if store.create_document(Collection::Consent, &key, &encode(&fresh)?).await? {
        return Ok(fresh);
    }
    let stored = store
        .update_document(Collection::Consent, &key, &|old| {
            let mut consent: Consent = decode("consent", old).ok()?;
            for s in scope {
                if !consent.scope.contains(s) {
                    consent.scope.push(s.clone());
                }
            }
            consent.updated_at = now.clone();
            encode(&consent).ok()
        })
        .await?
        .ok_or_else(|| DirectoryError::Internal("a consent vanished while it was recorded".into()))?;
    Ok(decode(&key, &stored)?)
}

/// Consents, filtered by user, client and audience.
pub async fn list_consents(
    tenant: &Tenant,
    user_id: Option<&str>,
    client_id: Option<&str>,
    audience: Option<&str>,
) -> DirectoryResult<Vec<Consent>> {
    let prefix = user_id.map(|u| format!("{u}\0")).unwrap_or_default();
    let all: Vec<Consent> = list(tenant.store.as_ref(), Collection::Consent, &prefix).await?;
    Ok(all
        .into_iter()
        .filter(|c| client_id.is_none_or(|id| c.client_id == id) && audience.is_none_or(|a| c.audience == a))
        .collect())
}

/// Revokes one consent by id: the next login asks again.
pub async fn delete_consent(tenant: &Tenant, id: &str) -> DirectoryResult<()> {
    let all = list_consents(tenant, None, None, None).await?;
    let Some(consent) = all.iter().find(|c| c.id == id) else {
        return Err(not_found("inexistent_grant", format!("The grant {id} does not exist.")));
    };
    tenant
        .store
        .delete_document(Collection::Consent, &key(&consent.user_id, &consent.client_id, &consent.audience))
        .await?;
    Ok(())
}

/// Revokes every consent of a user; returns how many.
pub async fn delete_user_consents(tenant: &Tenant, user_id: &str) -> DirectoryResult<usize> {
    let mine = list_consents(tenant, Some(user_id), None, None).await?;
    for c in &mine {
        tenant.store.delete_document(Collection::Consent, &key(&c.user_id, &c.client_id, &c.audience)).await?;
    }
    Ok(mine.len())
}
