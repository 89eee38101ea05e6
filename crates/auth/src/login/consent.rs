//! The consent page (seed 004, Auth0's user consent): before an application gets a user's data or API access on
//! their behalf, the user allows it, once per application and audience, and again when it asks for more or sends
//! `prompt=consent`.
//!
//! Who is asked: every user of a third-party application (`is_first_party = false`); users of a first-party one
//! when it asks for an API that does not allow skipping consent, or when its redirect URI is on `localhost` or a
//! loopback address, since anyone's application can listen there (Auth0 asks then too). A first-party login that
//! names no API is not asked. The decision is stored per user, application and audience
//! ([`crate::directory::consents`]); the Management API's `/api/v2/grants` lists and revokes it.

use gatehouse_types::Outcome;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::User;

use crate::authorization;
use crate::claims::granted_scopes;
use crate::directory::consents;
use crate::error::AuthResult;
use crate::login::step::{AuthStep, ConsentPage, LoginResponse};
use crate::login::tx::{LoginTx, Stage};
use crate::login::{Login, app_error, internal};

/// What Auth0 answers the application when the user declines.
const DECLINED: &str = "User did not authorize the request";

/// Whether `redirect_uri` points at this machine, where any application may listen.
fn is_loopback(redirect_uri: &str) -> bool {
    let Ok(url) = url::Url::parse(redirect_uri) else { return true };
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    }
}

impl Login<'_> {
    /// The scopes this login grants: the requested ones the API and RBAC allow, then the actions' changes.
    pub(crate) fn login_scopes(
        &self,
        tx: &LoginTx,
        client: &ClientConfig,
        user: &User,
        outcome: &Outcome,
    ) -> Vec<String> {
        let directory = self.ctx.tenant.directory();
        granted_scopes(
            &self.ctx.tenant.config,
            &directory,
            client,
            &tx.request.scope,
            tx.request.audience.as_deref(),
            &authorization::roles(&directory, user, tx.request.organization.as_deref()),
            &outcome.scopes,
        )
    }

    /// The scopes to ask the user about, or `None` when this login needs no consent (or has it already).
    pub(crate) async fn consent_needed(
        &self,
        tx: &LoginTx,
        client: &ClientConfig,
        user: &User,
        outcome: &Outcome,
    ) -> AuthResult<Option<Vec<String>>> {
        if tx.consented {
            return Ok(None);
        }
        let directory = self.ctx.tenant.directory();
        let api = tx.request.audience.as_deref().and_then(|a| directory.api(a));
        let asked = !client.is_first_party
            || api.is_some_and(|api| {
                !api.skip_consent_for_verifiable_first_party_clients || is_loopback(&tx.request.redirect_uri)
            });
        if !asked {
            return Ok(None);
        }
        let scopes = self.login_scopes(tx, client, user, outcome);
        if tx.request.prompt.iter().any(|p| p == "consent") {
            return Ok(Some(scopes));
        }
        let audience = consents::audience_of(self.ctx.tenant, tx.request.audience.as_deref());
        let stored = consents::find_consent(self.ctx.tenant, &user.user_id, &client.client_id, &audience)
            .await
            .map_err(|e| crate::AuthError::Setup(e.to_string()))?;
        let covered = stored.is_some_and(|c| scopes.iter().all(|s| c.scope.contains(s)));
        Ok((!covered).then_some(scopes))
    }

    /// Shows the consent page (or, with `prompt=none`, answers `consent_required`).
    pub(crate) async fn show_consent(
        &self,
        state: &str,
        mut tx: LoginTx,
        user: &User,
        outcome: Outcome,
        scopes: Vec<String>,
    ) -> LoginResponse {
        if tx.request.is_silent() {
            self.write_log("f", "Consent required", Some(&tx), Some(user)).await;
            let step = app_error(&tx.request, "consent_required", "Consent required");
            return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
        }
        let directory = self.ctx.tenant.directory();
        let api = tx.request.audience.as_deref().and_then(|a| directory.api(a));
        let shown = scopes
            .iter()
            .filter(|s| *s != "openid")
            .map(|s| (s.clone(), api.and_then(|a| a.scope_descriptions.get(s)).cloned()))
            .collect();
        let page =
            ConsentPage { ctx: self.page_context(state, &tx), api_name: api.map(|a| a.name.clone()), scopes: shown };
        tx.stage = Stage::Consent { outcome: Box::new(outcome), scopes };
        if let Err(e) = self.save(state, &tx).await {
            return internal(&tx.lang, e);
        }
        LoginResponse::new(AuthStep::Consent(page))
    }

    /// `POST /u/consent`: the user accepts (the consent is stored, the login completes) or declines
    /// (`access_denied` to the application).
    pub async fn answer_consent(&self, state: &str, csrf: &str, accept: bool) -> LoginResponse {
        let (mut tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        let Stage::Consent { outcome, scopes } = tx.stage.clone() else { return self.show(state).await };
        if !Self::csrf_ok(&tx, csrf) {
            return self.show(state).await;
        }
        if !accept {
            self.write_log("f", DECLINED, Some(&tx), Some(&user)).await;
            let step = app_error(&tx.request, "access_denied", DECLINED);
            return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
        }
        let audience = consents::audience_of(self.ctx.tenant, tx.request.audience.as_deref());
        if let Err(e) =
            consents::record_consent(self.ctx.tenant, &user.user_id, &tx.request.client_id, &audience, &scopes).await
        {
            return internal(&tx.lang, e);
        }
        tx.consented = true;
        self.complete(state, tx, user, *outcome).await
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_redirects_are_never_verifiable() {
        for uri in [
            "http://localhost:3000/cb",
            "http://LOCALHOST./cb",
            "http://app.localhost/cb",
            "http://127.0.0.1:9/callback",
            "http://127.8.9.10/cb",
            "http://[::1]:8080/cb",
            "http://0.0.0.0/cb",
            "not a url",
        ] {
            assert!(is_loopback(uri), "{uri}");
        }
        for uri in
            ["https://app.example.com/cb", "http://10.0.0.5/cb", "myapp://callback", "https://localhost.example.com/cb"]
        {
            assert!(!is_loopback(uri), "{uri}");
        }
    }
}
