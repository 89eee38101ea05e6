//! The MFA API (reference §7): `/mfa/associate`, `/mfa/challenge`, `/mfa/authenticators`, for applications that
//! draw their own screens, called with an `mfa_token` (`crate::mfa_ticket`) or an access token for the MFA API.
//! The grants that complete a challenge (`mfa-otp`, `mfa-oob`, `mfa-recovery-code`) are in `crate::oauth`.

mod associate;
mod authenticators;
mod challenge;

pub use authenticators::authenticator_view;

use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::FactorType;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use serde_json::{Map, Value};

use crate::claims::{self};
use crate::client_auth::ClientCredentials;
use crate::context::RequestContext;
use crate::crypto::one_time_code::{self, OobChallenge};
use crate::error::OAuthError;
use crate::ids;
use crate::limits;
use crate::mail::{EmailKind, EmailVars};
use crate::mfa_ticket::{self, MfaTicket};
use crate::phone::delivery::{self, CodeMessage, DeliveryError};
use crate::phone::templates::PhoneTemplate;
use crate::users;
use gatehouse_types::phone::DeliveryMethod;

/// How long an `oob_code` (and the code it sent) is valid.
const OOB_LIFETIME: i64 = 300;
/// How long an expired record is kept to answer "is expired" rather than "malformed".
const GRACE: i64 = 3600;

/// Who calls the MFA API.
#[derive(Clone, Debug)]
pub enum MfaCaller {
    /// An `mfa_token`.
    Ticket {
        /// Its `jti` (the ticket's store key).
        jti: String,
        /// The ticket.
        ticket: Box<MfaTicket>,
    },
    /// An access token for the MFA API (`<issuer>mfa/`).
    Access {
        /// The user.
        user_id: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
}

impl MfaCaller {
    pub(crate) fn user_id(&self) -> &str {
        match self {
            MfaCaller::Ticket { ticket, .. } => &ticket.user_id,
            MfaCaller::Access { user_id, .. } => user_id,
        }
    }

    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        match self {
            MfaCaller::Ticket { .. } => false,
            MfaCaller::Access { scopes, .. } => scopes.iter().any(|s| s == scope),
        }
    }
}

pub(crate) fn server_error(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::server_error(e)
}

/// The MFA API for one request.
pub struct MfaApi<'a> {
    ctx: RequestContext<'a>,
}

impl<'a> MfaApi<'a> {
    /// The API for one request.
    pub fn new(ctx: RequestContext<'a>) -> Self {
        MfaApi { ctx }
    }

    pub(crate) fn now(&self) -> i64 {
        self.ctx.tenant.now()
    }

    pub(crate) async fn log(
        &self,
        kind: &str,
        description: impl Into<String>,
        client_id: Option<&str>,
        user: Option<&User>,
    ) {
        let client = client_id.and_then(|id| self.ctx.tenant.config.client(id));
        self.ctx.tenant.log(crate::logs::entry(kind, description, self.ctx.request, client, user)).await;
    }

    /// The caller behind a bearer token: an `mfa_token`, or an access token for the MFA API.
    pub async fn caller(&self, bearer: Option<&str>) -> Result<MfaCaller, OAuthError> {
        let token = bearer.ok_or_else(|| OAuthError::unauthorized("Missing authentication"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| OAuthError::invalid_token("Malformed token"))?;
        if header.typ.as_deref() == Some("mfa+jwt") {
            let (jti, ticket) = mfa_ticket::verify(self.ctx.tenant, token, self.now()).await?;
            return Ok(MfaCaller::Ticket { jti, ticket: Box::new(ticket) });
        }
        let ring = self.ctx.tenant.key_ring().map_err(server_error)?;
        let claims = ring
            .verify(token, &self.ctx.tenant.config.issuer, Some(&self.ctx.tenant.config.mfa_audience()))
            .map_err(|_| OAuthError::invalid_token("The access token is invalid or expired"))?;
        if claims::is_revoked(self.ctx.tenant, &claims).await.map_err(server_error)? {
            return Err(OAuthError::invalid_token("The access token is invalid or expired"));
        }
        let user_id = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
        let scopes = claims::scopes_of(&claims);
        Ok(MfaCaller::Access { user_id, scopes })
    }

    pub(crate) async fn user(&self, user_id: &str) -> Result<User, OAuthError> {
        match self.ctx.tenant.store.find_user(user_id).await.map_err(server_error)? {
            Some(user) if !user.blocked => Ok(user),
            Some(_) => Err(OAuthError::unauthorized("user is blocked")),
            None => Err(OAuthError::invalid_grant("The user no longer exists")),
        }
    }

    /// The user's authenticators, with the implicit email authenticator of a verified address materialized.
    pub(crate) async fn authenticators(&self, user: &User) -> Result<Vec<Authenticator>, OAuthError> {
        let mut list = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let email_enabled = self.ctx.tenant.config.mfa.factors.contains(&FactorType::Email);
        if email_enabled
            && user.email_verified
            && !list.iter().any(|a| matches!(a.kind, AuthenticatorKind::Email { .. }))
        {
            let email =
                users::authenticator(user, AuthenticatorKind::Email { email: user.email.clone() }, true, self.now())
                    .map_err(server_error)?;
            self.ctx.tenant.store.save_authenticator(&email).await.map_err(server_error)?;
            list.push(email);
        }
        Ok(list)
    }

    pub(crate) fn enabled(&self, factor: FactorType) -> bool {
        self.ctx.tenant.config.mfa.factors.contains(&factor)
    }

    /// Sends a code by email or phone and stores the `oob_code` that names it (5 minutes, single use, bound to
    /// the user, the client and the authenticator). Nothing is stored when nothing was sent.
    pub(crate) async fn send_oob(
        &self,
        user: &User,
        authenticator: &Authenticator,
        client_id: &str,
        delivery: OobDelivery,
    ) -> Result<String, OAuthError> {
        let now = self.now();
        if let OobDelivery::Email(email) = &delivery {
            if !email.eq_ignore_ascii_case(&user.email) {
                return Err(OAuthError::access_denied("Email codes are only sent to the user's own address."));
            }
            if let Some(retry_after) =
                limits::spend_send(self.ctx.tenant.store.as_ref(), &user.user_id, limits::Channel::Email, now)
                    .await
                    .map_err(server_error)?
            {
                self.log(
                    "gd_send_email_failure",
                    "Email code not sent: send limit reached",
                    Some(client_id),
                    Some(user),
                )
                .await;
                return Err(too_many_sends(retry_after));
            }
        }
        let code = one_time_code::new_code().map_err(server_error)?;
        let oob_code = ids::secret().map_err(server_error)?;
        let challenge = OobChallenge {
            user_id: user.user_id.clone(),
            client_id: client_id.to_owned(),
            authenticator_id: authenticator.id.clone(),
            code_hash: one_time_code::code_hash(&code, &oob_code),
            expires_at: now + OOB_LIFETIME,
        };
        let bytes = serde_json::to_vec(&challenge).map_err(server_error)?;
        let key = secret_key(&oob_code);
        self.ctx
            .tenant
            .store
            .put_ephemeral(Ephemeral::OneTimeCode, &key, &bytes, now + OOB_LIFETIME + GRACE)
            .await
            .map_err(server_error)?;
        let sent = match delivery {
            OobDelivery::Email(email) => self.mail_code(user, client_id, &email, &code).await,
            OobDelivery::Phone { number, method, which } => {
                let client = self.ctx.tenant.config.client(client_id);
                let locale = crate::login::language(&[], self.ctx.request.accept_language.as_deref());
                let message = CodeMessage {
                    user,
                    recipient: &number,
                    method,
                    which,
                    code: &code,
                    locale: &locale,
                    client,
                    request: self.ctx.request,
                };
                // Sent, or queued for a retry (the code comes later): either way the oob_code stands.
                delivery::send_code(self.ctx.tenant, message).await.map(|_| ()).map_err(phone_error)
            }
        };
        if let Err(e) = sent {
            // The oob_code names a code nobody received: withdrawn.
            let _ = self.ctx.tenant.store.take_ephemeral(Ephemeral::OneTimeCode, &key, now).await;
            return Err(e);
        }
        Ok(oob_code)
    }

    async fn mail_code(&self, user: &User, client_id: &str, email: &str, code: &str) -> Result<(), OAuthError> {
        let vars = EmailVars {
            friendly_name: self.ctx.tenant.config.friendly_name.clone(),
            email: email.to_owned(),
            name: user.name.clone(),
            url: None,
            code: Some(code.to_owned()),
            ttl_seconds: OOB_LIFETIME.unsigned_abs(),
        };
        // No login here: the language the caller's Accept-Language asks for, as for phone codes.
        let lang = crate::login::language(&[], self.ctx.request.accept_language.as_deref());
        if self.ctx.tenant.send_email(EmailKind::MfaCode, &lang, &vars).await.is_err() {
            // The reason is in the server log (`Tenant::send_email`); the caller learns that nothing was sent.
            self.log("gd_send_email_failure", "Email code not sent: delivery failed", Some(client_id), Some(user))
                .await;
            let mut error = OAuthError::server_error("email delivery failed").with_status(502);
            error.description = "The code could not be sent. Try again later, or use another factor.".into();
            return Err(error);
        }
        self.log("gd_send_email", "MFA email sent", Some(client_id), Some(user)).await;
        Ok(())
    }
}

/// Where an `oob_code`'s code goes.
pub(crate) enum OobDelivery {
    /// The user's own email address.
    Email(String),
    /// A phone number, by text or voice, with the enrollment or the verification message.
    Phone {
        /// E.164.
        number: String,
        /// Text or voice.
        method: DeliveryMethod,
        /// Which message.
        which: PhoneTemplate,
    },
}

fn too_many_sends(retry_after: i64) -> OAuthError {
    OAuthError::too_many_attempts(format!(
        "Too many codes were sent. Try again in {} minutes.",
        retry_after.div_euclid(60) + 1
    ))
}

/// A phone delivery's failure as the MFA API answers it (the provider's reason is in the tenant log, not here).
fn phone_error(e: DeliveryError) -> OAuthError {
    match e {
        DeliveryError::TooMany { retry_after } => too_many_sends(retry_after),
        DeliveryError::DefaultProviderExhausted => OAuthError::too_many_attempts(
            "This tenant has sent the 100 messages of the default phone provider; no more codes can be sent by SMS.",
        ),
        DeliveryError::Refused(reason) => OAuthError::invalid_request(reason),
        DeliveryError::NotDelivered(reason) => {
            let mut error = OAuthError::server_error(format!("phone delivery: {reason}")).with_status(502);
            error.description = "The code could not be sent. Try again later, or use another factor.".into();
            error
        }
    }
}

/// The client credentials of an MFA API request: HTTP Basic, or `client_id`/`client_secret` in the body.
pub(crate) fn client_credentials<'a>(
    body: &'a Map<String, Value>,
    basic: Option<(&'a str, &'a str)>,
) -> ClientCredentials<'a> {
    let field = |name: &str| body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    ClientCredentials { basic, client_id: field("client_id"), client_secret: field("client_secret") }
}
