//! The MFA API (reference §7): `/mfa/associate`, `/mfa/challenge`, `/mfa/authenticators`, for applications that
//! draw their own screens, called with an `mfa_token` (`crate::mfa_ticket`) or an access token for the MFA API.
//! The grants that complete a challenge (`mfa-otp`, `mfa-oob`, `mfa-recovery-code`) are in `crate::oauth`.

use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::FactorType;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use serde_json::{Map, Value, json};

use crate::claims::{self};
use crate::client_auth::{self, ClientCredentials};
use crate::clock;
use crate::context::RequestInfo;
use crate::error::OAuthError;
use crate::ids;
use crate::limits;
use crate::mfa_ticket::{self, MfaTicket};
use crate::one_time_code::{self, OobChallenge};
use crate::outbox::Email;
use crate::recovery;
use crate::tenant::Tenant;
use crate::users;

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
    fn user_id(&self) -> &str {
        match self {
            MfaCaller::Ticket { ticket, .. } => &ticket.user_id,
            MfaCaller::Access { user_id, .. } => user_id,
        }
    }

    fn has_scope(&self, scope: &str) -> bool {
        match self {
            MfaCaller::Ticket { .. } => false,
            MfaCaller::Access { scopes, .. } => scopes.iter().any(|s| s == scope),
        }
    }
}

fn server_error(e: impl std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "MFA API failure");
    OAuthError::new(500, "server_error", "Internal error")
}

/// The MFA API for one request.
pub struct MfaApi<'a> {
    tenant: &'a Tenant,
    request: &'a RequestInfo,
}

impl<'a> MfaApi<'a> {
    /// The API for one request.
    pub fn new(tenant: &'a Tenant, request: &'a RequestInfo) -> Self {
        MfaApi { tenant, request }
    }

    fn now(&self) -> i64 {
        clock::now()
    }

    async fn log(&self, kind: &str, description: impl Into<String>, client_id: Option<&str>, user: Option<&User>) {
        let client = client_id.and_then(|id| self.tenant.config.client(id));
        self.tenant.log(crate::logs::entry(kind, description, self.request, client, user)).await;
    }

    /// The caller behind a bearer token: an `mfa_token`, or an access token for the MFA API.
    pub async fn caller(&self, bearer: Option<&str>) -> Result<MfaCaller, OAuthError> {
        let token = bearer.ok_or_else(|| OAuthError::new(401, "unauthorized", "Missing authentication"))?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| OAuthError::new(401, "invalid_token", "Malformed token"))?;
        if header.typ.as_deref() == Some("mfa+jwt") {
            let (jti, ticket) = mfa_ticket::verify(self.tenant, token, self.now()).await?;
            return Ok(MfaCaller::Ticket { jti, ticket: Box::new(ticket) });
        }
        let ring = self.tenant.key_ring().map_err(server_error)?;
        let claims = ring
            .verify(token, &self.tenant.config.issuer, Some(&self.tenant.config.mfa_audience()))
            .map_err(|_| OAuthError::new(401, "invalid_token", "The access token is invalid or expired"))?;
        if claims::is_revoked(self.tenant, &claims).await.map_err(server_error)? {
            return Err(OAuthError::new(401, "invalid_token", "The access token is invalid or expired"));
        }
        let user_id = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
        let scopes = claims::scopes_of(&claims);
        Ok(MfaCaller::Access { user_id, scopes })
    }

    async fn user(&self, user_id: &str) -> Result<User, OAuthError> {
        match self.tenant.store.find_user(user_id).await.map_err(server_error)? {
            Some(user) if !user.blocked => Ok(user),
            Some(_) => Err(OAuthError::new(401, "unauthorized", "user is blocked")),
            None => Err(OAuthError::new(403, "invalid_grant", "The user no longer exists")),
        }
    }

    /// The user's authenticators, with the implicit email authenticator of a verified address materialized.
    async fn authenticators(&self, user: &User) -> Result<Vec<Authenticator>, OAuthError> {
        let mut list = self.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let email_enabled = self.tenant.config.mfa.factors.contains(&FactorType::Email);
        if email_enabled
            && user.email_verified
            && !list.iter().any(|a| matches!(a.kind, AuthenticatorKind::Email { .. }))
        {
            let email = users::authenticator(user, AuthenticatorKind::Email { email: user.email.clone() }, true)
                .map_err(server_error)?;
            self.tenant.store.save_authenticator(&email).await.map_err(server_error)?;
            list.push(email);
        }
        Ok(list)
    }

    fn enabled(&self, factor: FactorType) -> bool {
        self.tenant.config.mfa.factors.contains(&factor)
    }

    /// `POST /mfa/associate`. `basic` is the request's HTTP Basic client credentials, if any.
    pub async fn associate(
        &self,
        caller: &MfaCaller,
        body: &Map<String, Value>,
        basic: Option<(&str, &str)>,
    ) -> Result<Value, OAuthError> {
        let user = self.user(caller.user_id()).await?;
        let client_id = match caller {
            MfaCaller::Ticket { ticket, .. } => {
                // Client credentials, when sent, must be right (a confidential client's secret included). Without
                // any, the mfa_token alone is accepted, as seed 003's request has it: the token is bound to the
                // client, which authenticated to obtain it.
                let credentials = client_credentials(body, basic);
                if !credentials.is_empty() {
                    let client = client_auth::authenticate_client(&self.tenant.config, credentials)?;
                    if client.client_id != ticket.client_id {
                        return Err(OAuthError::new(400, "invalid_request", "mfa_token not issued to this client"));
                    }
                }
                Some(ticket.client_id.clone())
            }
            MfaCaller::Access { .. } => {
                if !caller.has_scope("enroll") {
                    return Err(OAuthError::new(403, "insufficient_scope", "Insufficient scope, expected: enroll"));
                }
                body.get("client_id").and_then(Value::as_str).map(str::to_owned)
            }
        };
        let existing = self.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        // Recovery codes come with the first factor beyond email.
        let enrolled = existing.iter().any(|a| a.active && !matches!(a.kind, AuthenticatorKind::Email { .. }));
        // With only an mfa_token (the password), a factor may be added only while the user has none: a verified
        // email counts as one (Auth0), so a stolen password cannot enroll the attacker's factor.
        let has_factor = !crate::event::enrolled_factors(&self.tenant.config, &user, &existing).is_empty();
        if let MfaCaller::Ticket { ticket, .. } = caller
            && has_factor
            && !ticket.mfa_passed
        {
            self.log(
                "gd_enrollment_failed",
                "Enrollment refused: the user already has a factor and did not pass it",
                client_id.as_deref(),
                Some(&user),
            )
            .await;
            return Err(OAuthError::new(403, "access_denied", "User is already enrolled."));
        }
        let types: Vec<String> = body
            .get("authenticator_types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let first = !enrolled;
        match types.first().map(String::as_str) {
            Some("otp") => {
                if !self.enabled(FactorType::Otp) {
                    return Err(OAuthError::new(
                        400,
                        "unsupported_challenge_type",
                        "The otp factor is not enabled on this tenant.",
                    ));
                }
                // A new association replaces a pending (unconfirmed) one.
                for pending in existing.iter().filter(|a| !a.active && matches!(a.kind, AuthenticatorKind::Otp { .. }))
                {
                    self.tenant.store.delete_authenticator(&user.user_id, &pending.id).await.map_err(server_error)?;
                }
                let (authenticator, uri) = users::enroll_pending_otp(self.tenant, &user).await.map_err(server_error)?;
                let AuthenticatorKind::Otp { secret, .. } = &authenticator.kind else {
                    return Err(server_error("otp kind"));
                };
                let mut answer = json!({ "authenticator_type": "otp", "secret": secret, "barcode_uri": uri });
                self.attach_recovery_codes(&user, first, &existing, &mut answer).await?;
                self.log("gd_start_enroll", "MFA enrollment started (otp)", client_id.as_deref(), Some(&user)).await;
                Ok(answer)
            }
            Some("oob") => {
                let channels: Vec<String> = body
                    .get("oob_channels")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                if channels.is_empty() {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "oob_channels is required for the oob authenticator type",
                    ));
                }
                if channels.iter().any(|c| c != "email") {
                    return Err(OAuthError::new(
                        400,
                        "unsupported_challenge_type",
                        format!("Unsupported oob channel: {}. This server offers email.", channels.join(", ")),
                    ));
                }
                if !self.enabled(FactorType::Email) {
                    return Err(OAuthError::new(
                        400,
                        "unsupported_challenge_type",
                        "The email factor is not enabled on this tenant.",
                    ));
                }
                let email = body.get("email").and_then(Value::as_str).unwrap_or(&user.email).to_owned();
                // Codes go only to the account's own address: enrolling another one would hand the factor to
                // whoever owns it.
                if !email.eq_ignore_ascii_case(&user.email) {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "email must be the user's own email address; MFA codes are only sent there",
                    ));
                }
                let authenticator =
                    users::authenticator(&user, AuthenticatorKind::Email { email: email.clone() }, false)
                        .map_err(server_error)?;
                self.tenant.store.save_authenticator(&authenticator).await.map_err(server_error)?;
                let oob_code =
                    self.send_oob(&user, &authenticator, client_id.as_deref().unwrap_or_default(), &email).await?;
                let mut answer = json!({ "authenticator_type": "oob", "binding_method": "prompt", "oob_channel": "email", "oob_code": oob_code });
                self.attach_recovery_codes(&user, first, &existing, &mut answer).await?;
                self.log("gd_start_enroll", "MFA enrollment started (email)", client_id.as_deref(), Some(&user)).await;
                Ok(answer)
            }
            Some(other) => Err(OAuthError::new(
                400,
                "unsupported_challenge_type",
                format!("Unsupported authenticator type: {other}"),
            )),
            None => Err(OAuthError::new(400, "invalid_request", "authenticator_types is required")),
        }
    }

    /// On a user's first enrollment, a pending recovery code (confirmed with the enrollment).
    async fn attach_recovery_codes(
        &self,
        user: &User,
        first: bool,
        existing: &[Authenticator],
        answer: &mut Value,
    ) -> Result<(), OAuthError> {
        if !first || !self.enabled(FactorType::RecoveryCode) {
            return Ok(());
        }
        for old in existing.iter().filter(|a| matches!(a.kind, AuthenticatorKind::RecoveryCode { .. })) {
            self.tenant.store.delete_authenticator(&user.user_id, &old.id).await.map_err(server_error)?;
        }
        let code = recovery::new_recovery_code().map_err(server_error)?;
        let hash = recovery::hash_recovery_code(&code).map_err(server_error)?;
        let authenticator =
            users::authenticator(user, AuthenticatorKind::RecoveryCode { hash }, false).map_err(server_error)?;
        self.tenant.store.save_authenticator(&authenticator).await.map_err(server_error)?;
        if let Some(map) = answer.as_object_mut() {
            map.insert("recovery_codes".into(), json!([code]));
        }
        Ok(())
    }

    /// Sends a code to `email` and stores the `oob_code` that names it.
    async fn send_oob(
        &self,
        user: &User,
        authenticator: &Authenticator,
        client_id: &str,
        email: &str,
    ) -> Result<String, OAuthError> {
        let now = self.now();
        if !email.eq_ignore_ascii_case(&user.email) {
            return Err(OAuthError::new(403, "access_denied", "Email codes are only sent to the user's own address."));
        }
        if let Some(retry_after) =
            limits::spend_send(self.tenant.store.as_ref(), &user.user_id, limits::Channel::Email, now)
                .await
                .map_err(server_error)?
        {
            self.log("gd_send_email_failure", "Email code not sent: send limit reached", Some(client_id), Some(user))
                .await;
            return Err(OAuthError::new(
                429,
                "too_many_attempts",
                format!("Too many codes were sent. Try again in {} minutes.", retry_after.div_euclid(60) + 1),
            ));
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
        self.tenant
            .store
            .put_ephemeral(Ephemeral::OneTimeCode, &secret_key(&oob_code), &bytes, now + OOB_LIFETIME + GRACE)
            .await
            .map_err(server_error)?;
        let name = &self.tenant.config.friendly_name;
        let message = Email {
            to: email.to_owned(),
            subject: format!("Your {name} verification code"),
            body: format!(
                "Your verification code is: {code}\r\n\r\nIt expires in 5 minutes. If you did not ask for it, ignore this email."
            ),
        };
        self.tenant
            .outbox
            .send(&format!("{name} <no-reply@gatehouse.invalid>"), &message)
            .await
            .map_err(server_error)?;
        self.log("gd_send_email", "MFA email sent", Some(client_id), Some(user)).await;
        Ok(oob_code)
    }

    /// `POST /mfa/challenge`: the client authenticates as at the token endpoint (a confidential client with its
    /// secret). `basic` is the request's HTTP Basic client credentials, if any.
    pub async fn challenge(&self, body: &Map<String, Value>, basic: Option<(&str, &str)>) -> Result<Value, OAuthError> {
        let token = body
            .get("mfa_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "Missing required parameter: mfa_token"))?;
        let credentials = client_credentials(body, basic);
        if credentials.client_id.is_none() && credentials.basic.is_none() {
            return Err(OAuthError::new(400, "invalid_request", "Missing required parameter: client_id"));
        }
        let client = client_auth::authenticate_client(&self.tenant.config, credentials)?;
        let client_id = client.client_id.as_str();
        let (_, ticket) = mfa_ticket::verify(self.tenant, token, self.now()).await?;
        if ticket.client_id != client_id {
            return Err(OAuthError::new(400, "invalid_request", "mfa_token not issued to this client"));
        }
        let user = self.user(&ticket.user_id).await?;
        let authenticators: Vec<Authenticator> =
            self.authenticators(&user).await?.into_iter().filter(|a| a.active).collect();
        let usable: Vec<&Authenticator> = authenticators
            .iter()
            .filter(|a| !matches!(a.kind, AuthenticatorKind::RecoveryCode { .. }))
            .filter(|a| self.enabled(a.kind.factor()))
            .collect();
        if usable.is_empty() {
            return Err(OAuthError::new(
                401,
                "association_required",
                "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator.",
            ));
        }
        let types: Vec<String> = body
            .get("challenge_type")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["otp".to_owned(), "oob".to_owned()]);
        let kind_of = |a: &Authenticator| if matches!(a.kind, AuthenticatorKind::Otp { .. }) { "otp" } else { "oob" };
        let chosen = match body.get("authenticator_id").and_then(Value::as_str) {
            Some(id) => {
                let Some(a) = usable.iter().find(|a| a.id == id) else {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "The authenticator does not exist or is not active.",
                    ));
                };
                if !types.iter().any(|t| t == kind_of(a)) {
                    return Err(unsupported(&types, kind_of(a)));
                }
                *a
            }
            None => match types.iter().find_map(|t| usable.iter().find(|a| kind_of(a) == t)) {
                Some(a) => *a,
                None => return Err(unsupported(&types, usable.first().map(|a| kind_of(a)).unwrap_or("otp"))),
            },
        };
        self.log("gd_start_auth", "Second factor started", Some(client_id), Some(&user)).await;
        match &chosen.kind {
            AuthenticatorKind::Otp { .. } => Ok(json!({ "challenge_type": "otp" })),
            AuthenticatorKind::Email { email } => {
                let oob_code = self.send_oob(&user, chosen, client_id, email).await?;
                Ok(json!({ "challenge_type": "oob", "oob_code": oob_code, "binding_method": "prompt" }))
            }
            _ => Err(unsupported(&types, "otp")),
        }
    }

    /// `GET /mfa/authenticators`.
    pub async fn list(&self, caller: &MfaCaller) -> Result<Value, OAuthError> {
        if let MfaCaller::Access { .. } = caller
            && !caller.has_scope("read:authenticators")
        {
            return Err(OAuthError::new(
                403,
                "insufficient_scope",
                "Insufficient scope, expected: read:authenticators",
            ));
        }
        let user = self.user(caller.user_id()).await?;
        let list: Vec<Value> = self.authenticators(&user).await?.iter().map(authenticator_view).collect();
        Ok(Value::Array(list))
    }

    /// `DELETE /mfa/authenticators/{id}` (an access token with `remove:authenticators`; an mfa_token is not enough).
    pub async fn delete(&self, caller: &MfaCaller, id: &str) -> Result<(), OAuthError> {
        if !caller.has_scope("remove:authenticators") {
            return Err(OAuthError::new(
                403,
                "insufficient_scope",
                "Insufficient scope, expected: remove:authenticators",
            ));
        }
        let user = self.user(caller.user_id()).await?;
        let list = self.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let Some(target) = list.iter().find(|a| a.id == id) else {
            return Err(OAuthError::new(404, "not_found", "Authenticator not found"));
        };
        if matches!(&target.kind, AuthenticatorKind::Email { email } if *email == user.email && user.email_verified) {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "Email authenticators of a verified email cannot be deleted.",
            ));
        }
        self.tenant.store.delete_authenticator(&user.user_id, id).await.map_err(server_error)?;
        self.log("gd_unenroll", format!("Authenticator {} removed", target.kind.id_prefix()), None, Some(&user)).await;
        Ok(())
    }
}

/// The client credentials of an MFA API request: HTTP Basic, or `client_id`/`client_secret` in the body.
fn client_credentials<'a>(body: &'a Map<String, Value>, basic: Option<(&'a str, &'a str)>) -> ClientCredentials<'a> {
    let field = |name: &str| body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    ClientCredentials { basic, client_id: field("client_id"), client_secret: field("client_secret") }
}

fn unsupported(types: &[String], supported: &str) -> OAuthError {
    let what = if types.len() == 1 { "the requested challenge type" } else { "any of the requested challenge types" };
    OAuthError::new(
        401,
        "unsupported_challenge_type",
        format!("The user does not support {what} ({}). Supported type: {supported}.", types.join(", ")),
    )
}

/// An authenticator as `GET /mfa/authenticators` shows it.
pub fn authenticator_view(a: &Authenticator) -> Value {
    match &a.kind {
        AuthenticatorKind::Otp { .. } => json!({ "id": a.id, "authenticator_type": "otp", "active": a.active }),
        AuthenticatorKind::RecoveryCode { .. } => {
            json!({ "id": a.id, "authenticator_type": "recovery-code", "active": a.active })
        }
        AuthenticatorKind::Email { email } => json!({
            "id": a.id, "authenticator_type": "oob", "active": a.active, "oob_channel": "email", "name": crate::mask::mask_email(email)
        }),
        AuthenticatorKind::Phone { phone_number, method } => {
            json!({ "id": a.id, "authenticator_type": "oob", "active": a.active, "oob_channel": method, "name": crate::mask::mask_phone(phone_number) })
        }
    }
}
