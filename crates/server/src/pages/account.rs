//! The account pages: sign-up and "forgot your password?" (steps of a login), and the pages behind emailed links
//! (a new password, a verified address). The password rules are listed on the page and ticked as the user types by
//! one small inline script allowed by its hash; the server checks them again, so the page works without it.

use std::sync::LazyLock;

use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gatehouse_auth::login::step::{ResetDeniedPage, ResetRequestPage, SignupPage};
use gatehouse_auth::users::password_policy::RuleStatus;
use gatehouse_types::config::PasswordPolicyLevel;
use maud::{Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::i18n::{Text, t};
use super::{Page, Site, hidden, layout, notice_box};

fn tr<'a>(lang: &str, en: &'a str, ja: &'a str) -> &'a str {
    if lang == "ja" { ja } else { en }
}

/// Ticks the rules of `#rules` as `#password` changes. Mirrors `users::password_policy` for display only.
const RULES_SCRIPT: &str = r#"(function(){var input=document.getElementById('password'),list=document.getElementById('rules');if(!input||!list)return;var d=list.dataset,min=+d.min,max=+d.max,need=+d.classes||0,run=+d.run||0;function update(){var p=input.value,n=Array.from(p).length,c={lowerCase:/[a-z]/.test(p),upperCase:/[A-Z]/.test(p),numbers:/[0-9]/.test(p),specialCharacters:/[ !-\/:-@\[-`{-~]/.test(p)},count=0,k;for(k in c)if(c[k])count++;var runOk=!run||!new RegExp('(.)\\1{'+run+'}').test(p);list.querySelectorAll('li[data-rule]').forEach(function(li){var r=li.dataset.rule,ok;if(r==='nonEmpty')ok=n>0;else if(r==='lengthAtLeast')ok=n>=min;else if(r==='lengthAtMost')ok=n<=max;else if(r==='containsAtLeast')ok=count>=need;else if(r==='shouldContain')ok=c.lowerCase&&c.upperCase&&c.numbers;else if(r==='identicalChars')ok=runOk;else if(r in c)ok=c[r];else return;li.classList.toggle('met',!!ok);});}input.addEventListener('input',update);update();})();"#;

/// The CSP source allowing exactly [`RULES_SCRIPT`].
pub(super) static RULES_SCRIPT_SOURCE: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(RULES_SCRIPT.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
});

/// The numbers the script needs, by level (the policy's own table, `users::password_policy`).
fn rule_numbers(level: PasswordPolicyLevel) -> (u32, u32, u32) {
    match level {
        PasswordPolicyLevel::None => (1, 0, 0),
        PasswordPolicyLevel::Low => (6, 0, 0),
        PasswordPolicyLevel::Fair => (8, 0, 0),
        PasswordPolicyLevel::Good => (8, 3, 0),
        PasswordPolicyLevel::Excellent => (10, 3, 2),
    }
}

fn rules_list(lang: &str, level: PasswordPolicyLevel, rules: &[RuleStatus]) -> Markup {
    let (min, classes, run) = rule_numbers(level);
    html! {
        p class="hint" { (tr(lang, "Your password must have:", "パスワードの条件:")) }
        ul id="rules" class="rules" data-min=(min) data-max="128" data-classes=(classes) data-run=(run) {
            @for rule in rules {
                li data-rule=(rule.code) class=[rule.met.then_some("met")] {
                    (rule.text)
                    @if !rule.items.is_empty() {
                        ul {
                            @for item in &rule.items {
                                li data-rule=(item.code) class=[item.met.then_some("met")] { (item.text) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn script() -> Markup {
    html! { script { (PreEscaped(RULES_SCRIPT)) } }
}

fn error_box(error: Option<&str>) -> Markup {
    html! { @if let Some(error) = error { div class="notice" role="alert" { (error) } } }
}

pub(super) fn signup_page(page: &SignupPage) -> Page {
    let lang = page.ctx.lang.as_str();
    let heading = tr(lang, "Create your account", "アカウントを作成");
    layout(
        lang,
        heading,
        html! {
            h1 { (heading) }
            p class="sub" { (t(lang, Text::ToContinueTo)) " " strong { (page.ctx.client_name) } }
            (notice_box(lang, page.notice))
            (error_box(page.error.as_deref()))
            form method="post" action="/u/signup" {
                (hidden(&page.ctx))
                label for="email" { (t(lang, Text::Email)) }
                input id="email" type="email" name="email" autocomplete="email" required value=[page.email.as_deref()];
                @if let Some(username) = &page.username {
                    label for="username" { (tr(lang, "Username", "ユーザー名")) }
                    input id="username" type="text" name="username" autocomplete="username" required maxlength="15" value=[username.as_deref()];
                }
                label for="password" { (t(lang, Text::Password)) }
                input id="password" type="password" name="password" autocomplete="new-password" required;
                (rules_list(lang, page.level, &page.rules))
                button type="submit" { (t(lang, Text::Continue)) }
            }
            p class="hint" {
                (tr(lang, "Already have an account?", "アカウントをお持ちの場合は"))
                " " a href={ "/u/login?state=" (page.ctx.state) } { (tr(lang, "Log in", "ログイン")) }
            }
            (script())
        },
    )
}

pub(super) fn reset_request_page(page: &ResetRequestPage) -> Page {
    let lang = page.ctx.lang.as_str();
    let heading = tr(lang, "Forgot your password?", "パスワードをお忘れですか?");
    layout(
        lang,
        heading,
        html! {
            h1 { (heading) }
            @if page.sent {
                p { (tr(lang, "If an account exists for that address, we have sent it a link to choose a new password. Check your email.",
                        "そのメールアドレスのアカウントがあれば、新しいパスワードを設定するリンクを送信しました。メールをご確認ください。")) }
            } @else {
                p class="sub" { (tr(lang, "Enter your email address and we will send you a link to choose a new password.",
                                    "メールアドレスを入力してください。新しいパスワードを設定するリンクをお送りします。")) }
                (notice_box(lang, page.notice))
                (error_box(page.error.as_deref()))
                form method="post" action="/u/reset-password/request" {
                    (hidden(&page.ctx))
                    label for="email" { (t(lang, Text::Email)) }
                    input id="email" type="email" name="email" autocomplete="email" required value=[page.email.as_deref()];
                    button type="submit" { (tr(lang, "Send the link", "リンクを送信")) }
                }
            }
            p class="hint" { a href={ "/u/login?state=" (page.ctx.state) } { (tr(lang, "Back to log in", "ログインに戻る")) } }
        },
    )
}

/// The page behind a reset link: the new password twice, under the connection's rules.
pub struct ResetFormView<'a> {
    /// `en` or `ja`.
    pub lang: &'a str,
    /// The link's secret, posted back with the form.
    pub ticket: &'a str,
    /// The account's address, shown so the user knows which account.
    pub email: &'a str,
    /// The rules, met or not by the last try.
    pub rules: &'a [RuleStatus],
    /// The connection's level.
    pub level: PasswordPolicyLevel,
    /// Why the last try was refused.
    pub error: Option<&'a str>,
}

/// Renders the reset form.
pub fn reset_form(view: &ResetFormView<'_>, site: &Site) -> Response {
    let lang = view.lang;
    let heading = tr(lang, "Choose a new password", "新しいパスワードを設定");
    let page = layout(
        lang,
        heading,
        html! {
            h1 { (heading) }
            p class="sub" { (tr(lang, "For", "アカウント:")) " " strong { (view.email) } }
            (error_box(view.error))
            form method="post" action="/u/reset-password" {
                input type="hidden" name="ticket" value=(view.ticket);
                label for="password" { (tr(lang, "New password", "新しいパスワード")) }
                input id="password" type="password" name="password" autocomplete="new-password" required;
                label for="password_confirm" { (tr(lang, "Type it again", "もう一度入力")) }
                input id="password_confirm" type="password" name="password_confirm" autocomplete="new-password" required;
                (rules_list(lang, view.level, view.rules))
                button type="submit" { (tr(lang, "Change the password", "パスワードを変更")) }
            }
            (script())
        },
    );
    page_response(page, site, StatusCode::OK, true)
}

/// What a link did, or why it did nothing: a heading, a sentence and, when known, where to go next.
pub fn account_message(
    lang: &str,
    heading: &str,
    sentence: &str,
    next: Option<&str>,
    status: StatusCode,
    site: &Site,
) -> Response {
    page_response(message_page(lang, heading, sentence, next), site, status, false)
}

/// A password reset the `password-reset-post-challenge` actions refused: their reason when they gave one (Auth0
/// shows it), else a generic sentence.
pub(super) fn reset_denied_page(page: &ResetDeniedPage) -> Page {
    let lang = page.lang.as_str();
    let generic = tr(
        lang,
        "The password cannot be reset. Please contact support.",
        "パスワードを再設定できませんでした。サポートにお問い合わせください。",
    );
    message_page(
        lang,
        tr(lang, "The password was not reset", "パスワードを再設定できません"),
        page.message.as_deref().unwrap_or(generic),
        page.next.as_deref(),
    )
}

fn message_page(lang: &str, heading: &str, sentence: &str, next: Option<&str>) -> Page {
    layout(
        lang,
        heading,
        html! {
            h1 { (heading) }
            p { (sentence) }
            @if let Some(next) = next {
                a class="button" href=(next) { (tr(lang, "Continue", "続ける")) }
            }
        },
    )
}

fn page_response(page: Page, site: &Site, status: StatusCode, with_script: bool) -> Response {
    let markup = page.render(site);
    let policy = csp(site, with_script);
    let mut response = (status, markup).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
    }
    response.headers_mut().insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The hosted pages' CSP, with the rules script when the page has it.
pub(super) fn csp(site: &Site, with_script: bool) -> String {
    let script = if with_script { format!(" script-src {};", *RULES_SCRIPT_SOURCE) } else { String::new() };
    format!(
        "default-src 'none';{script} style-src 'unsafe-inline'; img-src {}; frame-ancestors 'none'; base-uri 'none'",
        site.image_sources()
    )
}
