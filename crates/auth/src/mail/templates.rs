//! The text of the emails Gatehouse sends: one Liquid template (the `liquid` crate, as the phone templates) per
//! kind of message and language, English and Japanese.
//!
//! A template is a file whose first line is `Subject: ...`, then an empty line, then the plain-text body, both
//! rendered with the same variables: `friendly_name`, `user.email`, `user.name`, `url`, `code`, `ttl` (the
//! lifetime in words, "5 minutes" / "5分間"), `ttl_seconds`, `ttl_minutes`, `ttl_hours`, `ttl_days` (rounded
//! down) and `lang`. A variable a message does not have (`url` of a code, `user.name` of a user without one) is
//! empty, so a template can test it with `{% if %}`.
//!
//! Each message also has an HTML part (`multipart/alternative`): `<kind>.<lang>.html.liquid`, the whole file an HTML
//! document, rendered with the same variables HTML-escaped (a user's name cannot add markup; `{{ url }}` is safe in
//! an `href`).
//!
//! The built-in templates are `mail/templates/<kind>.<lang>.liquid` and `.html.liquid`, compiled into the binary.
//! An operator's `[email] templates_dir` holds files of the same names and format; each replaces the built-in one of
//! its kind, language and part. An operator who replaces a text template but not its HTML one sends that message as
//! text only (the built-in HTML would say something else). Everything is parsed at start: a file that does not
//! parse, lacks its subject line, or has a name that is not a known kind and language stops the start, naming the
//! file.

use std::path::Path;

use liquid::model::{Object, Value};

/// The messages Gatehouse sends by email.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// A link that verifies the user's address (`url`, valid `[connection] verification_link_lifetime`).
    VerifyEmail,
    /// A link to choose a new password (`url`, valid `[connection] reset_link_lifetime`).
    ResetPassword,
    /// A one-time code of the email MFA factor (`code`).
    MfaCode,
}

impl EmailKind {
    /// Every kind.
    pub const ALL: [EmailKind; 3] = [EmailKind::VerifyEmail, EmailKind::ResetPassword, EmailKind::MfaCode];

    /// The name of its template files (`verify_email` for `verify_email.en.liquid`).
    pub fn file_stem(self) -> &'static str {
        match self {
            EmailKind::VerifyEmail => "verify_email",
            EmailKind::ResetPassword => "reset_password",
            EmailKind::MfaCode => "mfa_code",
        }
    }

    fn built_in(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (EmailKind::VerifyEmail, Lang::En) => include_str!("templates/verify_email.en.liquid"),
            (EmailKind::VerifyEmail, Lang::Ja) => include_str!("templates/verify_email.ja.liquid"),
            (EmailKind::ResetPassword, Lang::En) => include_str!("templates/reset_password.en.liquid"),
            (EmailKind::ResetPassword, Lang::Ja) => include_str!("templates/reset_password.ja.liquid"),
            (EmailKind::MfaCode, Lang::En) => include_str!("templates/mfa_code.en.liquid"),
            (EmailKind::MfaCode, Lang::Ja) => include_str!("templates/mfa_code.ja.liquid"),
        }
    }

    fn built_in_html(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (EmailKind::VerifyEmail, Lang::En) => include_str!("templates/verify_email.en.html.liquid"),
            (EmailKind::VerifyEmail, Lang::Ja) => include_str!("templates/verify_email.ja.html.liquid"),
            (EmailKind::ResetPassword, Lang::En) => include_str!("templates/reset_password.en.html.liquid"),
            (EmailKind::ResetPassword, Lang::Ja) => include_str!("templates/reset_password.ja.html.liquid"),
            (EmailKind::MfaCode, Lang::En) => include_str!("templates/mfa_code.en.html.liquid"),
            (EmailKind::MfaCode, Lang::Ja) => include_str!("templates/mfa_code.ja.html.liquid"),
        }
    }
}

/// The languages emails are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    En,
    Ja,
}

impl Lang {
    const ALL: [Lang; 2] = [Lang::En, Lang::Ja];

    /// Japanese for `ja`, `ja-JP`...; English for anything else.
    fn of(tag: &str) -> Lang {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("ja") { Lang::Ja } else { Lang::En }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
}

/// What a message is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailVars {
    /// `[friendly_name]` of the tenant.
    pub friendly_name: String,
    /// The recipient (`user.email`): the message goes there.
    pub email: String,
    /// The user's name (`user.name`), when known.
    pub name: Option<String>,
    /// The link of a verification or reset message.
    pub url: Option<String>,
    /// The one-time code of an MFA message.
    pub code: Option<String>,
    /// How long the link or code works, seconds.
    pub ttl_seconds: u64,
}

/// One parsed template: its subject line, its text body and its HTML body (if it has one).
struct Template {
    subject: liquid::Template,
    body: liquid::Template,
    html: Option<liquid::Template>,
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Plain text, lines ending with CRLF.
    pub text: String,
    /// The HTML alternative, if the message has one.
    pub html: Option<String>,
}

/// The parsed templates of a tenant, one per kind and language.
pub struct EmailTemplates {
    templates: Vec<((EmailKind, Lang), Template)>,
}

impl std::fmt::Debug for EmailTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailTemplates").finish_non_exhaustive()
    }
}

impl EmailTemplates {
    /// Parses the built-in templates and, with `dir` (the resolved `[email] templates_dir`), the operator's files
    /// that replace them. `Err` names the folder or file and the reason.
    pub fn load(dir: Option<&Path>) -> Result<EmailTemplates, String> {
        let parser = liquid::ParserBuilder::with_stdlib().build().map_err(|e| format!("Liquid: {e}"))?;
        let mut overrides: Vec<(FileKey, (String, String))> = Vec::new();
        if let Some(dir) = dir {
            let entries =
                std::fs::read_dir(dir).map_err(|e| format!("[email] templates_dir: {}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry.map_err(|e| format!("[email] templates_dir: {}: {e}", dir.display()))?.path();
                if path.extension().is_none_or(|x| x != "liquid") {
                    continue;
                }
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let key = template_key(&name).ok_or_else(|| {
                    format!(
                        "[email] templates_dir: {}: not a template name: write <kind>.<lang>.liquid (or \
                         <kind>.<lang>.html.liquid) with kind verify_email, reset_password or mfa_code and lang en \
                         or ja",
                        path.display()
                    )
                })?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("[email] templates_dir: {}: {e}", path.display()))?;
                overrides.push((key, (path.display().to_string(), text)));
            }
        }
        let find = |key: FileKey| overrides.iter().find(|(k, _)| *k == key).map(|(_, found)| found);
        let mut templates = Vec::new();
        for kind in EmailKind::ALL {
            for lang in Lang::ALL {
                let name = format!("{}.{}", kind.file_stem(), lang.code());
                let text_override = find((kind, lang, false));
                let (subject, body) = match text_override {
                    Some((file, text)) => {
                        parse(&parser, text).map_err(|e| format!("[email] templates_dir: {file}: {e}"))?
                    }
                    None => parse(&parser, kind.built_in(lang))
                        .map_err(|e| format!("built-in email template {name}.liquid: {e}"))?,
                };
                let html = match (find((kind, lang, true)), text_override) {
                    (Some((file, text)), _) => Some(
                        parser
                            .parse(text)
                            .map_err(|e| format!("[email] templates_dir: {file}: the HTML does not parse: {e}"))?,
                    ),
                    // The operator's own text, without their HTML: text only.
                    (None, Some(_)) => None,
                    (None, None) => Some(
                        parser
                            .parse(kind.built_in_html(lang))
                            .map_err(|e| format!("built-in email template {name}.html.liquid: {e}"))?,
                    ),
                };
                templates.push(((kind, lang), Template { subject, body, html }));
            }
        }
        Ok(EmailTemplates { templates })
    }

    /// Renders `kind` in `lang` (Japanese for `ja...`, English otherwise).
    pub fn render(&self, kind: EmailKind, lang: &str, vars: &EmailVars) -> Result<Rendered, String> {
        let lang = Lang::of(lang);
        let template = self
            .templates
            .iter()
            .find(|(key, _)| *key == (kind, lang))
            .map(|(_, template)| template)
            .ok_or_else(|| format!("no email template {}.{}", kind.file_stem(), lang.code()))?;
        let text_globals = globals(vars, lang);
        let failed = |e: liquid::Error| format!("email template {}.{}: {e}", kind.file_stem(), lang.code());
        let subject = template.subject.render(&text_globals).map_err(failed)?;
        let body = template.body.render(&text_globals).map_err(failed)?;
        // A subject is one header line, whatever a variable held.
        let subject =
            subject.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        let text = body.replace("\r\n", "\n").trim_end().replace('\n', "\r\n");
        let html = match &template.html {
            Some(html) => {
                let rendered = html.render(&globals(&escaped(vars), lang)).map_err(failed)?;
                Some(rendered.replace("\r\n", "\n").trim_end().replace('\n', "\r\n"))
            }
            None => None,
        };
        Ok(Rendered { subject, text, html })
    }
}

/// `vars` with every text HTML-escaped, for the HTML part.
fn escaped(vars: &EmailVars) -> EmailVars {
    let escape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        out
    };
    EmailVars {
        friendly_name: escape(&vars.friendly_name),
        email: escape(&vars.email),
        name: vars.name.as_deref().map(escape),
        url: vars.url.as_deref().map(escape),
        code: vars.code.as_deref().map(escape),
        ttl_seconds: vars.ttl_seconds,
    }
}

/// What a template file is for: its kind, its language, and whether it is the HTML part.
type FileKey = (EmailKind, Lang, bool);

/// The [`FileKey`] of a file name `<kind>.<lang>.liquid` or `<kind>.<lang>.html.liquid`.
fn template_key(name: &str) -> Option<FileKey> {
    let stem = name.strip_suffix(".liquid")?;
    let (stem, html) = match stem.strip_suffix(".html") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let (kind, lang) = stem.rsplit_once('.')?;
    let kind = EmailKind::ALL.into_iter().find(|k| k.file_stem() == kind)?;
    let lang = Lang::ALL.into_iter().find(|l| l.code() == lang)?;
    Some((kind, lang, html))
}

/// Splits a template file into its `Subject:` line and its body (after the empty line that follows), and parses
/// both.
fn parse(parser: &liquid::Parser, text: &str) -> Result<(liquid::Template, liquid::Template), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let subject = first
        .trim_end_matches('\r')
        .strip_prefix("Subject:")
        .ok_or("the first line must be the subject: \"Subject: ...\"")?
        .trim();
    let body = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n')).unwrap_or(rest);
    let subject = parser.parse(subject).map_err(|e| format!("the subject does not parse: {e}"))?;
    let body = parser.parse(body).map_err(|e| format!("the body does not parse: {e}"))?;
    Ok((subject, body))
}

/// The lifetime in words: days when it is whole days (2 or more), hours when whole hours, else minutes (rounded up
/// to a whole minute).
fn ttl_words(seconds: u64, lang: Lang) -> String {
    let (n, unit) = if seconds >= 2 * 86_400 && seconds.is_multiple_of(86_400) {
        (seconds / 86_400, 'd')
    } else if seconds >= 3_600 && seconds.is_multiple_of(3_600) {
        (seconds / 3_600, 'h')
    } else {
        (seconds.div_ceil(60).max(1), 'm')
    };
    match (lang, unit) {
        (Lang::Ja, 'd') => format!("{n}日間"),
        (Lang::Ja, 'h') => format!("{n}時間"),
        (Lang::Ja, _) => format!("{n}分間"),
        (Lang::En, 'd') => format!("{n} days"),
        (Lang::En, 'h') if n == 1 => "1 hour".to_owned(),
        (Lang::En, 'h') => format!("{n} hours"),
        (Lang::En, _) if n == 1 => "1 minute".to_owned(),
        (Lang::En, _) => format!("{n} minutes"),
    }
}

fn globals(vars: &EmailVars, lang: Lang) -> Object {
    let text = |s: &str| Value::scalar(s.to_owned());
    let optional = |s: &Option<String>| s.as_deref().map_or(Value::Nil, text);
    let number = |n: u64| Value::scalar(i64::try_from(n).unwrap_or(i64::MAX));
    let mut user = Object::new();
    user.insert("email".into(), text(&vars.email));
    user.insert("name".into(), optional(&vars.name));
    let mut globals = Object::new();
    globals.insert("friendly_name".into(), text(&vars.friendly_name));
    globals.insert("user".into(), Value::Object(user));
    globals.insert("url".into(), optional(&vars.url));
    globals.insert("code".into(), optional(&vars.code));
    globals.insert("ttl".into(), text(&ttl_words(vars.ttl_seconds, lang)));
    globals.insert("ttl_seconds".into(), number(vars.ttl_seconds));
    globals.insert("ttl_minutes".into(), number(vars.ttl_seconds / 60));
    globals.insert("ttl_hours".into(), number(vars.ttl_seconds / 3_600));
    globals.insert("ttl_days".into(), number(vars.ttl_seconds / 86_400));
    globals.insert("lang".into(), text(lang.code()));
    globals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_vars() -> EmailVars {
        EmailVars {
            friendly_name: "Acme".into(),
            email: "jane@example.com".into(),
            name: Some("Jane".into()),
            code: Some("482913".into()),
            ttl_seconds: 300,
            ..EmailVars::default()
        }
    }

    fn link_vars(ttl_seconds: u64) -> EmailVars {
        EmailVars {
            friendly_name: "Acme".into(),
            email: "jane@example.com".into(),
            name: None,
            url: Some("https://login.example.com/u/email-verification?ticket=abc".into()),
            code: None,
            ttl_seconds,
        }
    }

    #[test]
    fn the_mfa_code_keeps_the_text_clients_parse() {
        let templates = EmailTemplates::load(None).unwrap();
        let Rendered { subject, text: body, .. } = templates.render(EmailKind::MfaCode, "en", &code_vars()).unwrap();
        assert_eq!(subject, "Your Acme verification code");
        assert_eq!(
            body,
            "Your verification code is: 482913\r\n\r\nIt expires in 5 minutes. If you did not try to log in, ignore \
             this email."
        );
        let Rendered { subject, text: body, .. } = templates.render(EmailKind::MfaCode, "ja-JP", &code_vars()).unwrap();
        assert_eq!(subject, "Acme の確認コード");
        assert_eq!(
            body,
            "確認コード: 482913\r\n\r\nこのコードは5分間有効です。心当たりがない場合は、このメールを無視してください。"
        );
        // Any other language reads English.
        let Rendered { subject, .. } = templates.render(EmailKind::MfaCode, "fr", &code_vars()).unwrap();
        assert_eq!(subject, "Your Acme verification code");
    }

    #[test]
    fn links_say_where_to_go_and_for_how_long_in_both_languages() {
        let templates = EmailTemplates::load(None).unwrap();
        let vars = link_vars(5 * 86_400);
        let url = vars.url.clone().unwrap();
        let Rendered { subject, text: body, .. } = templates.render(EmailKind::VerifyEmail, "en", &vars).unwrap();
        assert_eq!(subject, "Verify your email address for Acme");
        assert!(body.starts_with("Hello,\r\n"), "no name, no dangling space: {body}");
        assert!(body.contains(&format!("\r\n{url}\r\n")) && body.contains("works for 5 days"), "{body}");
        let Rendered { subject, text: body, .. } = templates.render(EmailKind::VerifyEmail, "ja", &vars).unwrap();
        assert_eq!(subject, "Acme のメールアドレスの確認");
        assert!(body.contains(&url) && body.contains("5日間有効"), "{body}");

        let vars = EmailVars { name: Some("Jane Doe".into()), ..link_vars(86_400) };
        let Rendered { subject, text: body, .. } = templates.render(EmailKind::ResetPassword, "en", &vars).unwrap();
        assert_eq!(subject, "Reset your Acme password");
        assert!(body.starts_with("Hello Jane Doe,\r\n"), "{body}");
        assert!(body.contains("works for 24 hours") && body.contains("If you did not ask"), "{body}");
        let Rendered { text: body, .. } = templates.render(EmailKind::ResetPassword, "ja", &vars).unwrap();
        assert!(body.starts_with("Jane Doe 様\r\n") && body.contains("24時間、1回だけ有効"), "{body}");
        assert!(body.contains("心当たりがない場合"), "{body}");
    }

    #[test]
    fn the_html_part_escapes_what_it_is_given() {
        let templates = EmailTemplates::load(None).unwrap();
        let vars = EmailVars {
            name: Some("<script>alert(1)</script> & Co".into()),
            url: Some("https://login.example.com/u/reset-password?ticket=a&b=\"x\"".into()),
            ..link_vars(86_400)
        };
        for lang in ["en", "ja"] {
            let rendered = templates.render(EmailKind::ResetPassword, lang, &vars).unwrap();
            let html = rendered.html.unwrap();
            assert!(html.starts_with("<!DOCTYPE html>") && html.contains(&format!("lang=\"{lang}\"")), "{html}");
            assert!(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
            assert!(html.contains("href=\"https://login.example.com/u/reset-password?ticket=a&amp;b=&quot;x&quot;\""));
            // The text part keeps the text as it is.
            assert!(rendered.text.contains("<script>alert(1)</script> & Co"), "{}", rendered.text);
        }
        let code = templates.render(EmailKind::MfaCode, "ja", &code_vars()).unwrap();
        assert!(code.html.unwrap().contains(">482913<"));
    }

    #[test]
    fn an_operators_text_without_html_is_sent_as_text_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mfa_code.en.liquid"), "Subject: Code\n\nCode {{ code }}\n").unwrap();
        std::fs::write(dir.path().join("verify_email.ja.html.liquid"), "<p>{{ user.name }} {{ url }}</p>\n").unwrap();
        let templates = EmailTemplates::load(Some(dir.path())).unwrap();
        assert_eq!(templates.render(EmailKind::MfaCode, "en", &code_vars()).unwrap().html, None);
        assert!(templates.render(EmailKind::MfaCode, "ja", &code_vars()).unwrap().html.is_some());
        let vars = EmailVars { name: Some("A<b>".into()), ..link_vars(60) };
        let html = templates.render(EmailKind::VerifyEmail, "ja", &vars).unwrap().html.unwrap();
        assert_eq!(html, "<p>A&lt;b&gt; https://login.example.com/u/email-verification?ticket=abc</p>");
        std::fs::write(dir.path().join("verify_email.ja.html.liquid"), "<p>{% if url %}</p>\n").unwrap();
        let err = EmailTemplates::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("verify_email.ja.html.liquid") && err.contains("HTML does not parse"), "{err}");
    }

    #[test]
    fn lifetimes_in_words() {
        assert_eq!(ttl_words(300, Lang::En), "5 minutes");
        assert_eq!(ttl_words(61, Lang::En), "2 minutes");
        assert_eq!(ttl_words(30, Lang::En), "1 minute");
        assert_eq!(ttl_words(3_600, Lang::En), "1 hour");
        assert_eq!(ttl_words(86_400, Lang::En), "24 hours");
        assert_eq!(ttl_words(5 * 86_400, Lang::En), "5 days");
        assert_eq!(ttl_words(90_000, Lang::En), "25 hours");
        assert_eq!(ttl_words(300, Lang::Ja), "5分間");
        assert_eq!(ttl_words(86_400, Lang::Ja), "24時間");
        assert_eq!(ttl_words(5 * 86_400, Lang::Ja), "5日間");
    }

    #[test]
    fn an_operators_file_replaces_one_kind_and_language() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mfa_code.en.liquid"),
            "Subject: {{ code }} for {{ user.email }}\n\nCode {{ code }} ({{ ttl_minutes }} min, {{ lang }}){% if url %}{{ url }}{% endif %}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "not a template").unwrap();
        let templates = EmailTemplates::load(Some(dir.path())).unwrap();
        let Rendered { subject, text: body, .. } = templates.render(EmailKind::MfaCode, "en", &code_vars()).unwrap();
        assert_eq!((subject.as_str(), body.as_str()), ("482913 for jane@example.com", "Code 482913 (5 min, en)"));
        // The Japanese one and the other kinds stay built in.
        let Rendered { subject, .. } = templates.render(EmailKind::MfaCode, "ja", &code_vars()).unwrap();
        assert_eq!(subject, "Acme の確認コード");
        let Rendered { subject, .. } = templates.render(EmailKind::VerifyEmail, "en", &link_vars(60)).unwrap();
        assert_eq!(subject, "Verify your email address for Acme");
    }

    #[test]
    fn a_bad_file_stops_the_start_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("verify_email.ja.liquid");
        std::fs::write(&file, "Subject: 確認\n\n{% if url %}{{ url }}\n").unwrap();
        let err = EmailTemplates::load(Some(dir.path())).unwrap_err();
        assert!(err.starts_with("[email] templates_dir: ") && err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("does not parse"), "{err}");

        std::fs::write(&file, "Hello {{ url }}\n").unwrap();
        let err = EmailTemplates::load(Some(dir.path())).unwrap_err();
        assert!(err.contains(&file.display().to_string()) && err.contains("Subject:"), "{err}");

        std::fs::remove_file(&file).unwrap();
        let typo = dir.path().join("verify-email.en.liquid");
        std::fs::write(&typo, "Subject: x\n\ny\n").unwrap();
        let err = EmailTemplates::load(Some(dir.path())).unwrap_err();
        assert!(err.contains(&typo.display().to_string()) && err.contains("not a template name"), "{err}");

        let missing = dir.path().join("nope");
        let err = EmailTemplates::load(Some(&missing)).unwrap_err();
        assert!(err.contains("[email] templates_dir") && err.contains("nope"), "{err}");
    }

    #[test]
    fn a_variable_cannot_add_a_header() {
        let templates = EmailTemplates::load(None).unwrap();
        let vars = EmailVars { friendly_name: "Acme\r\nBcc: eve@example.com".into(), ..code_vars() };
        let Rendered { subject, .. } = templates.render(EmailKind::MfaCode, "en", &vars).unwrap();
        assert!(!subject.contains('\r') && !subject.contains('\n'), "{subject:?}");
    }
}
