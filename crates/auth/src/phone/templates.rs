//! The text of phone messages: Liquid templates (the `liquid` crate, as Auth0's phone templates), one for
//! enrollment and one for verification, each rendered twice, for SMS (`as_text`) and for a voice call
//! (`as_voice`), in English or Japanese.
//!
//! Variables (reference §6.4): `message_type` (`sms` or `voice`), `code` (in a voice message the digits are
//! separated, `4. 8. 2. 9. 1. 3`, so they are spoken one by one), `locale`, `tenant.friendly_name` (also
//! `tenant.friendlyName` and `friendly_name`), `user` (`name`, `nickname`, `email`, `phone_number`, ...),
//! `client.name` and `client.clientID`. An operator's template (`[mfa.phone] enrollment_template`,
//! `verification_template`) replaces the built-in ones for every language; it can branch on `locale` and
//! `message_type` itself. A template that does not parse stops the start; one that fails to render fails the
//! delivery with the reason.

use liquid::model::{Object, Value};

/// Which of the two messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneTemplate {
    /// The code of a first enrollment.
    Enrollment,
    /// The code of a login after enrollment.
    Verification,
}

/// A message rendered for both delivery methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedMessage {
    /// For SMS.
    pub as_text: String,
    /// For a voice call.
    pub as_voice: String,
}

/// What a message is about.
#[derive(Clone, Debug, Default)]
pub struct MessageContext<'a> {
    /// The one-time code.
    pub code: &'a str,
    /// The user's language (`ja`, `en-US`...): Japanese when it starts with `ja`, English otherwise.
    pub locale: &'a str,
    /// `[friendly_name]` of the tenant.
    pub friendly_name: &'a str,
    /// The user, as `event.user` shows it (only its scalar fields are offered).
    pub user: Option<&'a serde_json::Value>,
    /// The application's name and id.
    pub client: Option<(&'a str, &'a str)>,
}

const ENROLLMENT_EN: &str = "{% if message_type == 'voice' %}Hello. Your {{ tenant.friendly_name }} enrollment code is \
{{ code }}. Once again, your code is {{ code }}.{% else %}{{ code }} is your {{ tenant.friendly_name }} enrollment \
code. Do not share it with anyone.{% endif %}";
const VERIFICATION_EN: &str = "{% if message_type == 'voice' %}Hello. Your {{ tenant.friendly_name }} verification \
code is {{ code }}. Once again, your code is {{ code }}.{% else %}{{ code }} is your {{ tenant.friendly_name }} \
verification code. Do not share it with anyone.{% endif %}";
const ENROLLMENT_JA: &str = "{% if message_type == 'voice' %}{{ tenant.friendly_name }} の登録コードをお知らせします。\
{{ code }}。もう一度繰り返します。{{ code }}。{% else %}{{ tenant.friendly_name }} の登録コードは {{ code }} です。\
このコードは他の人に教えないでください。{% endif %}";
const VERIFICATION_JA: &str = "{% if message_type == 'voice' %}{{ tenant.friendly_name }} の確認コードをお知らせします。\
{{ code }}。もう一度繰り返します。{{ code }}。{% else %}{{ tenant.friendly_name }} の確認コードは {{ code }} です。\
このコードは他の人に教えないでください。{% endif %}";

/// The parsed templates of a tenant.
pub struct PhoneTemplates {
    enrollment: Templates,
    verification: Templates,
}

impl std::fmt::Debug for PhoneTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneTemplates").finish_non_exhaustive()
    }
}

/// The operator's template, or the built-in English and Japanese ones.
enum Templates {
    Custom(liquid::Template),
    BuiltIn { en: liquid::Template, ja: liquid::Template },
}

impl PhoneTemplates {
    /// Parses the built-in templates and the operator's (`None`: the built-in one). `Err` names the template and
    /// Liquid's reason.
    pub fn new(enrollment: Option<&str>, verification: Option<&str>) -> Result<PhoneTemplates, String> {
        let parser = liquid::ParserBuilder::with_stdlib().build().map_err(|e| format!("Liquid: {e}"))?;
        let parse = |name: &str, text: &str| {
            parser.parse(text).map_err(|e| format!("mfa.phone.{name}: the Liquid template does not parse: {e}"))
        };
        let templates = |name: &str, custom: Option<&str>, en: &str, ja: &str| -> Result<Templates, String> {
            Ok(match custom {
                Some(text) => Templates::Custom(parse(name, text)?),
                None => Templates::BuiltIn { en: parse(name, en)?, ja: parse(name, ja)? },
            })
        };
        Ok(PhoneTemplates {
            enrollment: templates("enrollment_template", enrollment, ENROLLMENT_EN, ENROLLMENT_JA)?,
            verification: templates("verification_template", verification, VERIFICATION_EN, VERIFICATION_JA)?,
        })
    }

    /// Renders `which` for SMS and for voice.
    pub fn render(&self, which: PhoneTemplate, context: &MessageContext<'_>) -> Result<RenderedMessage, String> {
        let japanese = context.locale.to_ascii_lowercase().starts_with("ja");
        let template = match which {
            PhoneTemplate::Enrollment => &self.enrollment,
            PhoneTemplate::Verification => &self.verification,
        };
        let template = match template {
            Templates::Custom(t) => t,
            Templates::BuiltIn { ja, .. } if japanese => ja,
            Templates::BuiltIn { en, .. } => en,
        };
        let render = |message_type: &str, code: String| {
            template.render(&globals(context, message_type, code)).map_err(|e| format!("phone template: {e}"))
        };
        Ok(RenderedMessage {
            as_text: render("sms", context.code.to_owned())?,
            as_voice: render("voice", spoken(context.code))?,
        })
    }
}

/// A code as a voice reads it: its characters one by one, `4. 8. 2. 9. 1. 3`.
pub fn spoken(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).map(String::from).collect::<Vec<_>>().join(". ")
}

fn globals(context: &MessageContext<'_>, message_type: &str, code: String) -> Object {
    let text = |s: &str| Value::scalar(s.to_owned());
    let mut tenant = Object::new();
    tenant.insert("friendly_name".into(), text(context.friendly_name));
    tenant.insert("friendlyName".into(), text(context.friendly_name));
    let mut user = Object::new();
    if let Some(serde_json::Value::Object(fields)) = context.user {
        for (key, value) in fields {
            let value = match value {
                serde_json::Value::String(s) => text(s),
                serde_json::Value::Bool(b) => Value::scalar(*b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Value::scalar(i),
                    None => Value::scalar(n.as_f64().unwrap_or_default()),
                },
                _ => continue,
            };
            user.insert(key.clone().into(), value);
        }
    }
    let mut client = Object::new();
    if let Some((name, id)) = context.client {
        client.insert("name".into(), text(name));
        client.insert("clientID".into(), text(id));
    }
    let mut globals = Object::new();
    globals.insert("message_type".into(), text(message_type));
    globals.insert("code".into(), Value::scalar(code));
    globals.insert("locale".into(), text(context.locale));
    globals.insert("friendly_name".into(), text(context.friendly_name));
    globals.insert("tenant".into(), Value::Object(tenant));
    globals.insert("user".into(), Value::Object(user));
    globals.insert("client".into(), Value::Object(client));
    globals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(locale: &'a str, code: &'a str) -> MessageContext<'a> {
        MessageContext { code, locale, friendly_name: "Gatehouse Sample", ..MessageContext::default() }
    }

    #[test]
    fn built_in_messages_in_english_and_japanese() {
        let templates = PhoneTemplates::new(None, None).unwrap();
        let en = templates.render(PhoneTemplate::Verification, &context("en-US", "482913")).unwrap();
        assert_eq!(en.as_text, "482913 is your Gatehouse Sample verification code. Do not share it with anyone.");
        assert_eq!(
            en.as_voice,
            "Hello. Your Gatehouse Sample verification code is 4. 8. 2. 9. 1. 3. Once again, your code is 4. 8. 2. 9. 1. 3."
        );
        let ja = templates.render(PhoneTemplate::Enrollment, &context("ja", "482913")).unwrap();
        assert_eq!(ja.as_text, "Gatehouse Sample の登録コードは 482913 です。このコードは他の人に教えないでください。");
        assert!(ja.as_voice.contains("4. 8. 2. 9. 1. 3。もう一度繰り返します。"), "{}", ja.as_voice);
        // Enrollment and verification differ.
        let enroll_en = templates.render(PhoneTemplate::Enrollment, &context("en", "1")).unwrap();
        assert!(enroll_en.as_text.contains("enrollment code"));
    }

    #[test]
    fn an_operator_template_sees_the_variables_of_reference_6_4() {
        let text = "{% if locale == 'ja' %}認証コード{% else %}Code{% endif %} {{ code }} ({{ message_type }}) \
                    {{ tenant.friendlyName }} {{ user.name }} {{ client.name }}";
        let templates = PhoneTemplates::new(None, Some(text)).unwrap();
        let user = serde_json::json!({ "name": "山田 太郎", "app_metadata": { "plan": "gold" } });
        let rendered = templates
            .render(
                PhoneTemplate::Verification,
                &MessageContext {
                    user: Some(&user),
                    client: Some(("Sample Web App", "sample-web")),
                    ..context("ja", "12")
                },
            )
            .unwrap();
        assert_eq!(rendered.as_text, "認証コード 12 (sms) Gatehouse Sample 山田 太郎 Sample Web App");
        assert_eq!(rendered.as_voice, "認証コード 1. 2 (voice) Gatehouse Sample 山田 太郎 Sample Web App");
        // The enrollment template is still the built-in one.
        let enroll = templates.render(PhoneTemplate::Enrollment, &context("en", "12")).unwrap();
        assert!(enroll.as_text.starts_with("12 is your Gatehouse Sample enrollment code"));
    }

    #[test]
    fn a_template_that_does_not_parse_is_refused_with_its_key() {
        let error = PhoneTemplates::new(Some("{% if code %}unterminated"), None).unwrap_err();
        assert!(error.starts_with("mfa.phone.enrollment_template: the Liquid template does not parse"), "{error}");
    }
}
