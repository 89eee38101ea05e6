//! The emails of account links: where they point, and sending them through the tenant's templates and mailer
//! (`crate::mail`: `verify_email` and `reset_password`, English and Japanese, overridable by the operator).

use gatehouse_types::records::User;

use crate::account::ticket::TicketKind;
use crate::error::{AuthError, AuthResult};
use crate::mail::templates::{EmailKind, EmailVars};
use crate::tenant::Tenant;

/// The page a link opens, with its secret.
pub fn link_url(tenant: &Tenant, kind: TicketKind, secret: &str) -> String {
    let path = match kind {
        TicketKind::VerifyEmail => "u/email-verification",
        TicketKind::ResetPassword => "u/reset-password",
    };
    format!("{}{path}?ticket={secret}", tenant.config.issuer)
}

/// Sends the email of a link to `user`, in `lang`. Never logs the link: it is a bearer secret.
pub async fn send_link(
    tenant: &Tenant,
    kind: TicketKind,
    user: &User,
    lang: &str,
    url: &str,
    ttl_secs: u64,
) -> AuthResult<()> {
    let kind = match kind {
        TicketKind::VerifyEmail => EmailKind::VerifyEmail,
        TicketKind::ResetPassword => EmailKind::ResetPassword,
    };
    let vars = EmailVars {
        friendly_name: tenant.config.friendly_name.clone(),
        email: user.email.clone(),
        name: user.name.clone().filter(|name| *name != user.email),
        url: Some(url.to_owned()),
        code: None,
        ttl_seconds: ttl_secs,
    };
    tenant.send_email(kind, lang, &vars).await.map_err(|e| AuthError::Setup(format!("email: {e}")))
}
