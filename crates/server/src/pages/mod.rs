//! The hosted pages, server-rendered HTML that works without JavaScript, and the one function that turns a login
//! step into an HTTP response.

pub mod account;
pub mod i18n;

use axum::http::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use gatehouse_auth::login::step::{
    AppResponse, AuthStep, ChallengePage, ConsentPage, CookieChange, EnrollOtpPage, EnrollPhonePage, ErrorPage,
    LoginPage, LoginResponse, OrganizationNamePage, OrganizationsPage, PageContext, PhoneChallenge, PickerPage,
    RecoveryCodePage, ResponseMode, cookie_names,
};
use gatehouse_types::FactorType;
use gatehouse_types::phone::DeliveryMethod;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use i18n::{Text, error_heading, factor_hint, factor_name, notice, t};

const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,'Segoe UI','Hiragino Sans','Noto Sans JP','Yu Gothic',sans-serif;background:#f3f4f6;color:#111827}
main{max-width:400px;margin:48px auto;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:32px}
h1{font-size:22px;margin:0 0 8px}p{line-height:1.5;color:#374151}.sub{color:#6b7280;margin-top:0}
label{display:block;font-size:14px;margin:16px 0 4px}input[type=email],input[type=password],input[type=text],input[type=tel]{width:100%;padding:10px;border:1px solid #d1d5db;border-radius:6px;font-size:16px}
button{width:100%;margin-top:20px;padding:11px;border:0;border-radius:6px;background:#4f46e5;color:#fff;font-size:16px;cursor:pointer}
a.button{display:block;margin-top:20px;padding:11px;border-radius:6px;background:#4f46e5;color:#fff;font-size:16px;text-align:center;text-decoration:none}
button.link{background:none;color:#4f46e5;margin-top:12px;padding:4px;font-size:14px}
.notice{background:#fef2f2;color:#991b1b;border-radius:6px;padding:10px;margin:12px 0;font-size:14px}.info{background:#eff6ff;color:#1e40af}
.secret{font-family:ui-monospace,monospace;font-size:15px;word-break:break-all;background:#f9fafb;padding:10px;border-radius:6px}
.qr{display:flex;justify-content:center;margin:12px 0}.qr svg{width:200px;height:200px}
.code{font-family:ui-monospace,monospace;font-size:20px;letter-spacing:1px;text-align:center;word-break:break-all;background:#f9fafb;padding:16px;border-radius:6px}
footer{text-align:center;color:#9ca3af;font-size:12px;margin-top:16px}
.logo{display:block;margin:32px auto -24px;max-width:150px;max-height:150px}
.factor{text-align:left}.factor small{display:block;opacity:.85;font-size:13px;margin-top:2px}
.group{display:inline-block;margin:0 4px;white-space:nowrap}
.rules{font-size:13px;color:#6b7280;margin:4px 0 0;padding-left:18px}.rules ul{padding-left:16px}.rules li.met{color:#15803d}.rules li.met::marker{content:'✓ '}
.choice{display:flex;gap:8px;align-items:center;margin:8px 0}.hint{font-size:13px;color:#6b7280;margin:6px 0 0}
.later{visibility:hidden;animation:reveal 0s linear forwards}@keyframes reveal{to{visibility:visible}}
.wait{font-size:13px;color:#6b7280;text-align:center;animation:conceal 0s linear forwards}@keyframes conceal{to{display:none;visibility:hidden}}
";

/// The default colour of buttons and links, replaced by `[branding] primary_color`.
const PRIMARY: &str = "#4f46e5";

/// What every hosted page shows besides its content (the tenant's name, logo and colour) and how its cookies are
/// set.
#[derive(Clone, Debug)]
pub struct Site {
    /// Cookie attributes.
    pub cookies: CookiePolicy,
    /// The tenant's `friendly_name`: titles and the footer.
    pub tenant_name: String,
    /// `[branding] logo_url` (checked to be https at load).
    pub logo_url: Option<String>,
    /// `[branding] primary_color` (checked to be `#rrggbb` at load), or the default.
    pub primary_color: String,
}

impl Site {
    /// The page's `img-src`: inline QR codes, and the logo's origin.
    fn image_sources(&self) -> String {
        let logo = self
            .logo_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| format!(" {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        format!("data:{logo}")
    }
}

/// A page's language, title and content, before the site's chrome goes around it.
struct Page {
    lang: String,
    title: String,
    body: Markup,
}

fn layout(lang: &str, title: &str, body: Markup) -> Page {
    Page { lang: lang.to_owned(), title: title.to_owned(), body }
}

impl Page {
    fn render(self, site: &Site) -> Markup {
        let style = STYLE.replace(PRIMARY, &site.primary_color);
        html! {
            (DOCTYPE)
            html lang=(self.lang) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (self.title) " | " (site.tenant_name) }
                    style { (PreEscaped(style)) }
                }
                body {
                    @if let Some(logo) = &site.logo_url { img class="logo" src=(logo) alt=(site.tenant_name); }
                    main { (self.body) }
                    footer { (site.tenant_name) }
                }
            }
        }
    }
}

fn hidden(ctx: &PageContext) -> Markup {
    html! {
        input type="hidden" name="state" value=(ctx.state);
        input type="hidden" name="csrf" value=(ctx.csrf);
    }
}

fn notice_box(lang: &str, n: Option<gatehouse_auth::login::step::Notice>) -> Markup {
    use gatehouse_auth::login::step::Notice;
    html! {
        @if let Some(n) = n {
            @let class = if matches!(n, Notice::CodeSent | Notice::Delayed) { "notice info" } else { "notice" };
            div class=(class) role="alert" { (notice(lang, n)) }
        }
    }
}

fn login_page(page: &LoginPage) -> Page {
    let lang = page.ctx.lang.as_str();
    layout(
        lang,
        t(lang, Text::LogInTo),
        html! {
            h1 { (t(lang, Text::LogInTo)) }
            p class="sub" { (t(lang, Text::ToContinueTo)) " " strong { (page.ctx.client_name) } }
            (notice_box(lang, page.notice))
            form method="post" action="/u/login" {
                (hidden(&page.ctx))
                label for="email" { (t(lang, Text::Email)) }
                input id="email" type="email" name="email" autocomplete="username" required value=[page.email.as_deref()];
                label for="password" { (t(lang, Text::Password)) }
                input id="password" type="password" name="password" autocomplete="current-password" required;
                button type="submit" { (t(lang, Text::Continue)) }
            }
            p class="hint" {
                a href={ "/u/reset-password/request?state=" (page.ctx.state) } {
                    (if lang == "ja" { "パスワードをお忘れですか?" } else { "Forgot your password?" })
                }
            }
            @if page.signup {
                p class="hint" {
                    (if lang == "ja" { "アカウントをお持ちでない場合は" } else { "Don't have an account?" })
                    " " a href={ "/u/signup?state=" (page.ctx.state) } { (if lang == "ja" { "新規登録" } else { "Sign up" }) }
                }
            }
        },
    )
}

fn try_another(ctx: &PageContext, alternatives: bool) -> Markup {
    let lang = ctx.lang.as_str();
    html! {
        @if alternatives {
            form method="post" action="/u/mfa/choose" {
                (hidden(ctx))
                button class="link" type="submit" { (t(lang, Text::TryAnotherMethod)) }
            }
        }
    }
}

fn challenge_page(page: &ChallengePage) -> Page {
    let lang = page.ctx.lang.as_str();
    let by_voice = page.phone.as_ref().is_some_and(|p| p.method == DeliveryMethod::Voice);
    let (instructions, label, autocomplete, pattern) = match page.factor {
        FactorType::RecoveryCode => (t(lang, Text::RecoveryInstructions), t(lang, Text::RecoveryCode), "off", None),
        FactorType::Email => {
            (t(lang, Text::EmailInstructions), t(lang, Text::Code), "one-time-code", Some("[0-9 ]{6,7}"))
        }
        FactorType::Phone if by_voice => {
            (t(lang, Text::VoiceInstructions), t(lang, Text::Code), "one-time-code", Some("[0-9 ]{6,7}"))
        }
        FactorType::Phone => {
            (t(lang, Text::SmsInstructions), t(lang, Text::Code), "one-time-code", Some("[0-9 ]{6,7}"))
        }
        _ => (t(lang, Text::OtpInstructions), t(lang, Text::Code), "one-time-code", Some("[0-9 ]{6,7}")),
    };
    layout(
        lang,
        t(lang, Text::VerifyIdentity),
        html! {
            h1 { (t(lang, Text::VerifyIdentity)) }
            p class="sub" { (factor_name(lang, page.factor)) }
            p { (instructions) @if let Some(d) = &page.destination { " " strong { (d) } } }
            (notice_box(lang, page.notice))
            form method="post" action="/u/mfa" {
                (hidden(&page.ctx))
                label for="code" { (label) }
                input id="code" type="text" name="code" inputmode=(if pattern.is_some() { "numeric" } else { "text" })
                    autocomplete=(autocomplete) pattern=[pattern] required autofocus;
                button type="submit" { (t(lang, Text::Continue)) }
            }
            @if page.factor == FactorType::Email {
                form method="post" action="/u/mfa/resend" {
                    (hidden(&page.ctx))
                    button class="link" type="submit" { (t(lang, Text::ResendCode)) }
                }
            }
            @if let Some(phone) = &page.phone {
                (phone_resend(&page.ctx, phone))
            }
            (try_another(&page.ctx, page.alternatives))
        },
    )
}

/// A phone challenge's "Resend" (shown once the cooldown is over, without JavaScript: a CSS animation delay) and
/// its "Call me instead" / "Send a text message instead".
fn phone_resend(ctx: &PageContext, phone: &PhoneChallenge) -> Markup {
    let lang = ctx.lang.as_str();
    let delay = format!("animation-delay:{}s", phone.resend_in);
    html! {
        @if phone.resend_in > 0 {
            p class="wait" style=(delay) { (i18n::resend_in(lang, phone.resend_in)) }
        }
        form method="post" action="/u/mfa/resend" class=[(phone.resend_in > 0).then_some("later")] style=[(phone.resend_in > 0).then_some(&delay)] {
            (hidden(ctx))
            button class="link" type="submit" { (t(lang, Text::ResendCode)) }
        }
        @if phone.change_number {
            form method="post" action="/u/mfa/choose" {
                (hidden(ctx))
                input type="hidden" name="factor" value="phone";
                button class="link" type="submit" { (t(lang, Text::ChangeNumber)) }
            }
        }
        @for method in &phone.switch_to {
            form method="post" action="/u/mfa/resend" {
                (hidden(ctx))
                input type="hidden" name="method" value=(method_value(*method));
                button class="link" type="submit" {
                    (t(lang, if *method == DeliveryMethod::Voice { Text::CallMeInstead } else { Text::TextMeInstead }))
                }
            }
        }
    }
}

fn method_value(method: DeliveryMethod) -> &'static str {
    match method {
        DeliveryMethod::Text => "text",
        DeliveryMethod::Voice => "voice",
    }
}

fn enroll_phone_page(page: &EnrollPhonePage) -> Page {
    let lang = page.ctx.lang.as_str();
    layout(
        lang,
        t(lang, Text::EnrollPhoneTitle),
        html! {
            h1 { (t(lang, Text::EnrollPhoneTitle)) }
            p { (t(lang, Text::EnrollPhoneExplain)) }
            (notice_box(lang, page.notice))
            form method="post" action="/u/mfa/phone" {
                (hidden(&page.ctx))
                label for="phone_number" { (t(lang, Text::PhoneNumber)) }
                input id="phone_number" type="tel" name="phone_number" autocomplete="tel" inputmode="tel" required autofocus
                    placeholder=(t(lang, Text::PhoneNumberExample)) value=[page.number.as_deref()];
                p class="hint" { (t(lang, Text::PhoneNumberHint)) }
                @if page.methods.len() > 1 {
                    label { (t(lang, Text::SendCodeBy)) }
                    @for (i, method) in page.methods.iter().enumerate() {
                        div class="choice" {
                            input type="radio" id=(method_value(*method)) name="method" value=(method_value(*method)) checked[i == 0];
                            label for=(method_value(*method)) style="margin:0" {
                                (t(lang, if *method == DeliveryMethod::Voice { Text::ByVoice } else { Text::ByText }))
                            }
                        }
                    }
                } @else if let Some(method) = page.methods.first() {
                    input type="hidden" name="method" value=(method_value(*method));
                }
                button type="submit" { (t(lang, Text::SendCode)) }
            }
            (try_another(&page.ctx, page.alternatives))
        },
    )
}

fn organizations_page(page: &OrganizationsPage) -> Page {
    let lang = page.ctx.lang.as_str();
    layout(
        lang,
        t(lang, Text::ChooseOrganization),
        html! {
            h1 { (t(lang, Text::ChooseOrganization)) }
            p class="sub" { (t(lang, Text::ToContinueTo)) " " strong { (page.ctx.client_name) } }
            @for (id, name) in &page.organizations {
                form method="post" action="/u/organization" {
                    (hidden(&page.ctx))
                    input type="hidden" name="organization" value=(id);
                    button type="submit" { (name) }
                }
            }
        },
    )
}

fn organization_name_page(page: &OrganizationNamePage) -> Page {
    let lang = page.ctx.lang.as_str();
    layout(
        lang,
        t(lang, Text::EnterOrganization),
        html! {
            h1 { (t(lang, Text::EnterOrganization)) }
            p class="sub" { (t(lang, Text::ToContinueTo)) " " strong { (page.ctx.client_name) } }
            (notice_box(lang, page.notice))
            form method="post" action="/u/organization-name" {
                (hidden(&page.ctx))
                label for="organization_name" { (t(lang, Text::OrganizationName)) }
                input id="organization_name" type="text" name="organization_name" autocomplete="organization" required autocapitalize="none" value=[page.name.as_deref()];
                button type="submit" { (t(lang, Text::Continue)) }
            }
        },
    )
}

fn consent_page(page: &ConsentPage) -> Page {
    let lang = page.ctx.lang.as_str();
    let describe = |scope: &str, description: &Option<String>| -> String {
        match (scope, description) {
            (_, Some(d)) => format!("{d} ({scope})"),
            ("profile", None) => t(lang, Text::ScopeProfile).to_owned(),
            ("email", None) => t(lang, Text::ScopeEmail).to_owned(),
            ("phone", None) => t(lang, Text::ScopePhone).to_owned(),
            ("offline_access", None) => t(lang, Text::ScopeOfflineAccess).to_owned(),
            (other, None) => other.to_owned(),
        }
    };
    layout(
        lang,
        t(lang, Text::ConsentTitle),
        html! {
            h1 { (t(lang, Text::ConsentTitle)) }
            p class="sub" { (t(lang, Text::ConsentIntro)) " " strong { (page.ctx.client_name) } }
            @if let Some(api) = &page.api_name {
                p { (t(lang, Text::ConsentApi)) " " strong { (api) } }
            }
            ul class="scopes" {
                @for (scope, description) in &page.scopes {
                    li { (describe(scope, description)) }
                }
            }
            form method="post" action="/u/consent" {
                (hidden(&page.ctx))
                input type="hidden" name="action" value="accept";
                button type="submit" { (t(lang, Text::Accept)) }
            }
            form method="post" action="/u/consent" {
                (hidden(&page.ctx))
                input type="hidden" name="action" value="deny";
                button class="link" type="submit" { (t(lang, Text::Decline)) }
            }
        },
    )
}

fn picker_page(page: &PickerPage) -> Page {
    let lang = page.ctx.lang.as_str();
    let title = if page.enrolling { t(lang, Text::ChooseEnrollMethod) } else { t(lang, Text::ChooseMethod) };
    layout(
        lang,
        title,
        html! {
            h1 { (title) }
            @for factor in &page.factors {
                form method="post" action="/u/mfa/choose" {
                    (hidden(&page.ctx))
                    input type="hidden" name="factor" value=(factor.as_str());
                    button class="factor" type="submit" {
                        (factor_name(lang, *factor))
                        small { (factor_hint(lang, *factor)) }
                    }
                }
            }
            @if let Some(back) = page.back {
                form method="post" action="/u/mfa/choose" {
                    (hidden(&page.ctx))
                    input type="hidden" name="factor" value=(back.as_str());
                    button class="link" type="submit" { (t(lang, Text::Back)) }
                }
            }
        },
    )
}

fn enroll_otp_page(page: &EnrollOtpPage) -> Page {
    let lang = page.ctx.lang.as_str();
    layout(
        lang,
        t(lang, Text::SecureAccount),
        html! {
            h1 { (t(lang, Text::SecureAccount)) }
            p { (t(lang, Text::ScanQr)) }
            div class="qr" title=(page.uri) { (PreEscaped(&page.qr_svg)) }
            p { (t(lang, Text::CantScan)) }
            div class="secret" { (page.secret) }
            p { (t(lang, Text::EnterFirstCode)) }
            (notice_box(lang, page.notice))
            form method="post" action="/u/mfa" {
                (hidden(&page.ctx))
                label for="code" { (t(lang, Text::Code)) }
                input id="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required autofocus;
                button type="submit" { (t(lang, Text::Continue)) }
            }
            (try_another(&page.ctx, page.alternatives))
        },
    )
}

fn recovery_page(page: &RecoveryCodePage) -> Page {
    let lang = page.ctx.lang.as_str();
    layout(
        lang,
        t(lang, Text::SaveRecoveryCode),
        html! {
            h1 { (t(lang, Text::SaveRecoveryCode)) }
            @if page.code.is_empty() {
                p { (t(lang, Text::RecoveryCodeAlreadyShown)) }
            } @else {
                p { (t(lang, Text::RecoveryCodeExplain)) }
                // Groups of four that wrap between groups, never inside one; the spaces are ignored when the code
                // is typed back.
                div class="code" id="recovery-code" {
                    @for group in page.code.as_bytes().chunks(4) {
                        span class="group" { (String::from_utf8_lossy(group)) }
                    }
                }
            }
            form method="post" action="/u/mfa/recovery-saved" {
                (hidden(&page.ctx))
                button type="submit" { (t(lang, Text::SavedIt)) }
            }
        },
    )
}

fn error_page(page: &ErrorPage) -> Page {
    let lang = page.lang.as_str();
    let (heading, sentence) = error_heading(lang, &page.title);
    layout(
        lang,
        heading,
        html! {
            h1 { (heading) }
            p { (sentence) @if !page.detail.is_empty() && lang != "ja" { " " (page.detail) } }
            @if let Some(start) = &page.start_again {
                a class="button" href=(start) { (t(lang, Text::StartAgain)) }
            } @else {
                p class="sub" { (t(lang, Text::BackToApp)) }
            }
            p class="hint" { "Error: " code { (page.title) } }
        },
    )
}

/// `/v2/logout` without `returnTo`: a page in the user's language.
pub fn logged_out_page(lang: &str, site: &Site) -> Markup {
    let (heading, sentence) = i18n::logged_out(lang);
    layout(lang, heading, html! { h1 { (heading) } p { (sentence) } }).render(site)
}

/// Whether cookies must be `Secure` (and may then be `SameSite=None` for cross-site silent authentication).
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    /// The issuer is `https://`.
    pub secure: bool,
}

impl CookiePolicy {
    /// The prefix of every cookie name: `__Host-` over https, so the browser accepts the cookie only from this
    /// host, with `Secure`, `Path=/` and no `Domain` (a sibling subdomain cannot plant one).
    pub fn prefix(self) -> &'static str {
        if self.secure { "__Host-" } else { "" }
    }

    /// A cookie with Gatehouse's attributes: `HttpOnly`, `Path=/`; over https `Secure` and `SameSite=None` (silent
    /// authentication across sites), else `SameSite=Lax`.
    fn cookie(self, name: String, value: String, max_age: i64) -> Cookie<'static> {
        Cookie::build((format!("{}{name}", self.prefix()), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(if self.secure { SameSite::None } else { SameSite::Lax })
            .max_age(time::Duration::seconds(max_age))
            .build()
    }

    fn header(self, change: &CookieChange) -> String {
        let (name, value, max_age) = match change {
            CookieChange::SetSession { value, max_age } => (cookie_names::SESSION.to_owned(), value.clone(), *max_age),
            CookieChange::ClearSession => (cookie_names::SESSION.to_owned(), String::new(), 0),
            CookieChange::SetBinding { slot, value, max_age } => {
                (format!("{}{slot}", cookie_names::BINDING_PREFIX), value.clone(), *max_age)
            }
            CookieChange::ClearBinding { slot } => {
                (format!("{}{slot}", cookie_names::BINDING_PREFIX), String::new(), 0)
            }
            CookieChange::SetDevice { value } => (cookie_names::DEVICE.to_owned(), value.clone(), 31_536_000),
        };
        self.cookie(name, value, max_age).encoded().to_string()
    }
}

/// A per-response nonce for the one inline script of form_post and web_message answers.
fn script_nonce() -> String {
    gatehouse_auth::ids::hex(16).unwrap_or_else(|_| "gatehouse".to_owned())
}

fn json_string(value: &str) -> String {
    // Inside a <script>, "</" must not appear: escape every '<'.
    serde_json::to_string(value).unwrap_or_default().replace('<', "\\u003c")
}

fn app_response(answer: &AppResponse) -> (StatusCode, HeaderMap, Option<Markup>) {
    let mut headers = HeaderMap::new();
    match answer.mode {
        ResponseMode::Query => {
            let location = match url::Url::parse(&answer.redirect_uri) {
                Ok(mut url) => {
                    url.query_pairs_mut().extend_pairs(answer.params.iter());
                    url.to_string()
                }
                Err(_) => answer.redirect_uri.clone(),
            };
            if let Ok(value) = HeaderValue::from_str(&location) {
                headers.insert(LOCATION, value);
            }
            (StatusCode::FOUND, headers, None)
        }
        ResponseMode::FormPost => {
            let nonce = script_nonce();
            if let Ok(csp) =
                HeaderValue::from_str(&format!("default-src 'none'; script-src 'nonce-{nonce}'; form-action *"))
            {
                headers.insert(CONTENT_SECURITY_POLICY, csp);
            }
            let page = html! {
                (DOCTYPE)
                html {
                    head { meta charset="utf-8"; title { "Submit" } }
                    body {
                        form method="post" action=(answer.redirect_uri) {
                            @for (k, v) in &answer.params { input type="hidden" name=(k) value=(v); }
                            noscript { button type="submit" { "Continue" } }
                        }
                        script nonce=(nonce) { (PreEscaped("document.forms[0].submit();")) }
                    }
                }
            };
            (StatusCode::OK, headers, Some(page))
        }
        ResponseMode::WebMessage => {
            let nonce = script_nonce();
            if let Ok(csp) = HeaderValue::from_str(&format!("default-src 'none'; script-src 'nonce-{nonce}'")) {
                headers.insert(CONTENT_SECURITY_POLICY, csp);
            }
            let origin =
                url::Url::parse(&answer.redirect_uri).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            let mut response = serde_json::Map::new();
            for (k, v) in &answer.params {
                response.insert(k.clone(), serde_json::Value::from(v.clone()));
            }
            let message = serde_json::json!({ "type": "authorization_response", "response": response })
                .to_string()
                .replace('<', "\\u003c");
            let script = format!(
                "(function(){{var target=window.opener||window.parent;target.postMessage({message},{});}})();",
                json_string(&origin)
            );
            let page = html! {
                (DOCTYPE)
                html { head { meta charset="utf-8"; title { "Authorization Response" } } body { script nonce=(nonce) { (PreEscaped(script)) } } }
            };
            (StatusCode::OK, headers, Some(page))
        }
    }
}

/// Turns a login step into the HTTP response.
pub fn render(response: LoginResponse, site: &Site) -> Response {
    let LoginResponse { step, cookies: changes, cause } = response;
    let (status, mut headers, body) = match &step {
        AuthStep::Login(page) => (StatusCode::OK, HeaderMap::new(), Some(login_page(page).render(site))),
        AuthStep::Challenge(page) => (StatusCode::OK, HeaderMap::new(), Some(challenge_page(page).render(site))),
        AuthStep::Picker(page) => (StatusCode::OK, HeaderMap::new(), Some(picker_page(page).render(site))),
        AuthStep::EnrollOtp(page) => (StatusCode::OK, HeaderMap::new(), Some(enroll_otp_page(page).render(site))),
        AuthStep::EnrollPhone(page) => (StatusCode::OK, HeaderMap::new(), Some(enroll_phone_page(page).render(site))),
        AuthStep::Organizations(page) => {
            (StatusCode::OK, HeaderMap::new(), Some(organizations_page(page).render(site)))
        }
        AuthStep::OrganizationName(page) => {
            (StatusCode::OK, HeaderMap::new(), Some(organization_name_page(page).render(site)))
        }
        AuthStep::Consent(page) => (StatusCode::OK, HeaderMap::new(), Some(consent_page(page).render(site))),
        AuthStep::RecoveryCode(page) => (StatusCode::OK, HeaderMap::new(), Some(recovery_page(page).render(site))),
        AuthStep::Signup(page) => (StatusCode::OK, HeaderMap::new(), Some(account::signup_page(page).render(site))),
        AuthStep::ResetRequest(page) => {
            (StatusCode::OK, HeaderMap::new(), Some(account::reset_request_page(page).render(site)))
        }
        AuthStep::ResetDenied(page) => {
            (StatusCode::FORBIDDEN, HeaderMap::new(), Some(account::reset_denied_page(page).render(site)))
        }
        AuthStep::Error(page) => {
            // Our failure is a 500 (clients and monitors must not read it as their mistake), an unreachable store a
            // 503 (try again); the rest are 400.
            let status = match page.title.as_str() {
                "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
                "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, HeaderMap::new(), Some(error_page(page).render(site)))
        }
        AuthStep::Redirect(url) => {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(url) {
                headers.insert(LOCATION, value);
            }
            (StatusCode::FOUND, headers, None)
        }
        AuthStep::Respond(answer) => app_response(answer),
    };
    let is_page = !matches!(step, AuthStep::Redirect(_) | AuthStep::Respond(_));
    if is_page {
        // No `form-action`: Chromium applies it to the redirect after a post too, and a login ends with a redirect
        // to the application's callback on another origin. Scripts: only the sign-up page's rules script, by hash.
        let with_script = matches!(step, AuthStep::Signup(_));
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&account::csp(site, with_script))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'")),
        );
    }
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    for change in &changes {
        if let Ok(value) = HeaderValue::from_str(&site.cookies.header(change)) {
            headers.append(SET_COOKIE, value);
        }
    }
    let mut response = match body {
        Some(markup) => (status, headers, markup).into_response(),
        None => (status, headers).into_response(),
    };
    // A web_message answer runs in the application's iframe (silent authentication): the one response that may be
    // framed. Every other response gets `X-Frame-Options: DENY` from the app's layer.
    if matches!(&step, AuthStep::Respond(answer) if answer.mode == ResponseMode::WebMessage) {
        response.extensions_mut().insert(crate::FramingAllowed);
    }
    if let Some(cause) = cause {
        response.extensions_mut().insert(crate::error::FailureCause(cause));
    }
    response
}
