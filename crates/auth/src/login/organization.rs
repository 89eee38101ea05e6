//! The organization picker (`organization_require_behavior = "post_login_prompt"`): a client that requires an
//! organization, reached without one, asks the user after the password to pick one of their organizations. The
//! choice is checked again when it comes back (a member, of an organization that exists), then the login goes on
//! through it.

use gatehouse_types::config::{OrganizationPrompt, OrganizationUsage};
use gatehouse_types::records::User;

use crate::directory::Directory;
use crate::login::step::{AuthStep, LoginResponse, Notice, OrganizationNamePage, OrganizationsPage};
use crate::login::tx::{LoginTx, Stage};
use crate::login::{Login, app_error, internal};

/// The organizations `user` is a member of: `(id, display name)`.
fn memberships(directory: &Directory, user: &User) -> Vec<(String, String)> {
    directory
        .organizations_of(&user.user_id)
        .into_iter()
        .map(|org| {
            let shown = if org.display_name.is_empty() { org.name.clone() } else { org.display_name.clone() };
            (org.id.clone(), shown)
        })
        .collect()
}

impl Login<'_> {
    /// Whether this login still owes an organization (its client requires one and none was named).
    pub(crate) fn needs_organization(&self, tx: &LoginTx) -> bool {
        tx.request.organization.is_none()
            && self
                .ctx
                .tenant
                .config
                .client(&tx.request.client_id)
                .is_some_and(|c| c.organization_usage == OrganizationUsage::Require)
    }

    /// Whether the login page must first ask for the organization's name (`pre_login_prompt`, none named yet).
    pub(crate) fn needs_organization_name(&self, tx: &LoginTx) -> bool {
        self.needs_organization(tx)
            && self
                .ctx
                .tenant
                .config
                .client(&tx.request.client_id)
                .is_some_and(|c| c.organization_require_behavior == OrganizationPrompt::PreLoginPrompt)
    }

    /// The page asking for the organization's name.
    pub(crate) fn organization_name_page(&self, state: &str, tx: &LoginTx, name: Option<&str>) -> LoginResponse {
        LoginResponse::new(AuthStep::OrganizationName(OrganizationNamePage {
            ctx: self.page_context(state, tx),
            name: name.map(str::to_owned),
            notice: name.map(|_| Notice::UnknownOrganization),
        }))
    }

    /// `POST /u/organization-name`: the organization typed before the login. An unknown name, or an organization
    /// without the database connection, asks again; a known one goes on to the login page through it (membership
    /// is checked after the password, as for a named organization).
    pub async fn name_organization(&self, state: &str, csrf: &str, name: &str) -> LoginResponse {
        let mut tx = match self.load(state).await {
            Ok(tx) => tx,
            Err(page) => return page,
        };
        if !Self::csrf_ok(&tx, csrf) || tx.stage != Stage::Credentials || !self.needs_organization_name(&tx) {
            return self.show(state).await;
        }
        let typed = name.trim().to_lowercase();
        let directory = self.ctx.tenant.directory();
        let found = directory.organization(&typed).filter(|org| {
            org.name == typed
                && org.enabled_connections.iter().any(|c| c.connection_id == crate::event::DATABASE_CONNECTION_ID)
        });
        let Some(org) = found else {
            return self.organization_name_page(state, &tx, Some(name.trim()));
        };
        tx.request.organization = Some(org.id.clone());
        if let Err(e) = self.save(state, &tx).await {
            return internal(&tx.lang, e);
        }
        self.show(state).await
    }

    /// Shows the picker (or refuses a user who belongs to no organization).
    pub(crate) async fn show_organizations(&self, state: &str, mut tx: LoginTx, user: &User) -> LoginResponse {
        let organizations = memberships(&self.ctx.tenant.directory(), user);
        if organizations.is_empty() {
            let reason = "User is not a member of any organization";
            self.write_log("f", reason, Some(&tx), Some(user)).await;
            let step = app_error(&tx.request, "access_denied", reason);
            return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
        }
        tx.stage = Stage::OrganizationPicker;
        if let Err(e) = self.save(state, &tx).await {
            return internal(&tx.lang, e);
        }
        LoginResponse::new(AuthStep::Organizations(OrganizationsPage {
            ctx: self.page_context(state, &tx),
            organizations,
        }))
    }

    /// `POST /u/organization`: the organization picked.
    pub async fn choose_organization(&self, state: &str, csrf: &str, organization: &str) -> LoginResponse {
        let (mut tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        if !Self::csrf_ok(&tx, csrf) || tx.stage != Stage::OrganizationPicker {
            return self.show(state).await;
        }
        let chosen = memberships(&self.ctx.tenant.directory(), &user).into_iter().find(|(id, _)| id == organization);
        let Some((id, _)) = chosen else {
            // Not one of the user's organizations: the picker again.
            return self.show_organizations(state, tx, &user).await;
        };
        tx.request.organization = Some(id);
        tx.stage = Stage::Credentials;
        self.after_first_factor(state, tx, user).await
    }
}
