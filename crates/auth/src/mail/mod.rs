//! Email: what the messages say ([`templates`]) and how they leave ([`Mailer`]).
//!
//! A tenant with `[email] smtp_url` hands every message to that relay over TLS ([`smtp`]); without one, messages
//! are written to `<data_dir>/outbox` ([`outbox`]), which is also where the default phone provider's SMS go. A
//! message's body carries codes and links that log a user in, so it is never logged: a log line names the
//! recipient's domain at most.

pub mod outbox;
mod smtp;
pub mod templates;

use std::collections::BTreeMap;
use std::path::Path;

use gatehouse_types::config::TenantConfig;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::extension::ClientId;

pub use outbox::Outbox;
pub use templates::{EmailKind, EmailTemplates, EmailVars};

/// One message, UTF-8: plain text, with an HTML alternative when it has one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Email {
    /// Recipient.
    pub to: String,
    /// Subject (line breaks are dropped).
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The HTML alternative (`multipart/alternative`).
    pub html: Option<String>,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient is not an address.
    #[error("the recipient is not a deliverable address: {0}")]
    Recipient(String),
    /// The template of the message did not render.
    #[error("the email template did not render: {0}")]
    Template(String),
    /// The outbox folder could not be written.
    #[error("the outbox could not be written: {0}")]
    Outbox(#[source] std::io::Error),
    /// The relay refused the connection, the TLS, the credentials or the message, or the connection failed.
    #[error("the SMTP relay did not take the message: {0}")]
    Smtp(String),
    /// The relay did not finish within the time allowed.
    #[error("the SMTP relay did not finish within {0} seconds")]
    Timeout(u64),
}

/// Where a tenant's emails go: an SMTP relay when `[email] smtp_url` is set, else the outbox folder.
#[derive(Debug)]
pub struct Mailer {
    from: Mailbox,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Outbox(Outbox),
    Smtp(smtp::SmtpRelay),
}

impl Mailer {
    /// The mailer of `config` (issuer already resolved): SMTP with `[email] smtp_url` (its `ca_files` relative to
    /// `base_dir`, its password from `secrets`, the tenant's `[secrets]` overridden by `GATEHOUSE_SECRET_<NAME>`),
    /// else an outbox writing into `outbox_dir`. Nothing is connected yet. `Err` names the key:
    /// `[email] smtp_url: ...`.
    pub fn from_config(
        config: &TenantConfig,
        base_dir: &Path,
        secrets: &BTreeMap<String, String>,
        outbox_dir: &Path,
    ) -> Result<Mailer, String> {
        let email = &config.email;
        let issuer_host = url::Url::parse(&config.issuer).ok().and_then(|u| u.host_str().map(str::to_owned));
        let from = match &email.from {
            Some(from) => {
                from.parse::<Mailbox>().map_err(|e| format!("[email] from: {from:?} is not an address: {e}"))?
            }
            None => {
                let host = issuer_host.clone().unwrap_or_default();
                let address = format!("no-reply@{host}").parse().map_err(|e| {
                    format!("[email] from: no-reply@{host} (the default) is not an address ({e}); set [email] from")
                })?;
                Mailbox::new(Some(header_safe(&config.friendly_name)), address)
            }
        };
        let sink = match email.smtp_endpoint() {
            None => Sink::Outbox(Outbox::new(outbox_dir)),
            Some(Err(reason)) => return Err(format!("[email] smtp_url: {reason}")),
            Some(Ok(endpoint)) => {
                let hello = hello_name(issuer_host.as_deref());
                Sink::Smtp(smtp::SmtpRelay::new(email, endpoint, base_dir, secrets, hello)?)
            }
        };
        Ok(Mailer { from, sink })
    }

    /// The `From:` of every message.
    pub fn from_address(&self) -> String {
        self.from.to_string()
    }

    /// Where messages go, for the start-up log: `smtp host:port` or `outbox <folder>`.
    pub fn describe(&self) -> String {
        match &self.sink {
            Sink::Outbox(outbox) => format!("outbox {}", outbox.dir().display()),
            Sink::Smtp(relay) => format!("smtp {}", relay.address()),
        }
    }

    /// Sends `email` (plain text, UTF-8). Returns once the relay accepted it or the outbox file is written. A
    /// failure is logged here (recipient domain and reason, never the body) and returned.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let domain = email.to.rsplit_once('@').map(|(_, domain)| header_safe(domain)).unwrap_or_default();
        let sent = match &self.sink {
            Sink::Outbox(outbox) => {
                outbox.send(&self.from.to_string(), email).await.map(|_| ()).map_err(MailError::Outbox)
            }
            Sink::Smtp(relay) => match self.message(email) {
                Ok(message) => relay.send(&message).await,
                Err(e) => Err(e),
            },
        };
        match &sent {
            Ok(()) => tracing::info!(recipient_domain = %domain, via = %self.describe(), "email sent"),
            Err(e) => {
                tracing::warn!(recipient_domain = %domain, via = %self.describe(), error = %e, "email not sent")
            }
        }
        sent
    }

    /// The RFC 5322 message of `email`: lettre's typed headers, so no value can add a header.
    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let to: Mailbox = email.to.parse().map_err(|e| MailError::Recipient(format!("{e}")))?;
        let id = uuid::Uuid::new_v4().simple();
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(header_safe(&email.subject))
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())));
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.body.clone(), html.clone())),
            None => builder.header(ContentType::TEXT_PLAIN).body(email.body.clone()),
        };
        built.map_err(|e| MailError::Recipient(e.to_string()))
    }
}

/// The EHLO name: the issuer's host (a relay may check it), else lettre's default.
fn hello_name(host: Option<&str>) -> ClientId {
    let host = host.unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Ok(std::net::IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        Err(_) if !host.is_empty() => ClientId::Domain(host.to_owned()),
        Err(_) => ClientId::default(),
    }
}

/// A header value on one line.
fn header_safe(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TenantConfig {
        TenantConfig {
            issuer: "https://login.example.com/".into(),
            friendly_name: "Acme Corp".into(),
            ..TenantConfig::default()
        }
    }

    #[tokio::test]
    async fn without_a_relay_mail_goes_to_the_outbox_from_no_reply_at_the_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::from_config(&config(), dir.path(), &BTreeMap::new(), &dir.path().join("outbox")).unwrap();
        assert_eq!(mailer.from_address(), "Acme Corp <no-reply@login.example.com>");
        assert!(mailer.describe().starts_with("outbox "));
        let email = Email {
            to: "jane@example.com\r\nBcc: eve@example.com".into(),
            subject: "Hi\r\nBcc: eve@example.com".into(),
            body: "Your verification code is: 123456".into(),
            html: None,
        };
        mailer.send(&email).await.unwrap();
        let file = std::fs::read_dir(dir.path().join("outbox")).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.starts_with("From: Acme Corp <no-reply@login.example.com>\r\nTo: jane@example.comBcc:"), "{text}");
        assert_eq!(text.matches("\r\nBcc:").count(), 0, "no header was added: {text}");
        assert!(text.ends_with("\r\n\r\nYour verification code is: 123456\r\n"), "{text}");
    }

    #[test]
    fn the_configured_from_and_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_from = config();
        with_from.email.from = Some("Acme <accounts@example.com>".into());
        let mailer = Mailer::from_config(&with_from, dir.path(), &BTreeMap::new(), dir.path()).unwrap();
        assert_eq!(mailer.from_address(), "Acme <accounts@example.com>");
        with_from.email.from = Some("nobody".into());
        let err = Mailer::from_config(&with_from, dir.path(), &BTreeMap::new(), dir.path()).unwrap_err();
        assert!(err.starts_with("[email] from: "), "{err}");
        let mut bad_url = config();
        bad_url.email.smtp_url = Some("smtp://mail.example.com?tls=none".into());
        let err = Mailer::from_config(&bad_url, dir.path(), &BTreeMap::new(), dir.path()).unwrap_err();
        assert!(err.starts_with("[email] smtp_url: ") && err.contains("tls=none"), "{err}");
    }

    #[test]
    fn a_recipient_that_is_not_an_address_is_refused_before_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = config();
        relay.email.smtp_url = Some("smtps://mail.example.com".into());
        let mailer = Mailer::from_config(&relay, dir.path(), &BTreeMap::new(), dir.path()).unwrap();
        let email = Email {
            to: "jane@example.com>, eve@example.com".into(),
            subject: "s".into(),
            body: "b".into(),
            html: None,
        };
        assert!(matches!(mailer.message(&email), Err(MailError::Recipient(_))));
        let ok = Email {
            to: "jane@example.com".into(),
            subject: "Ünïcode\r\nBcc: x@y".into(),
            body: "b".into(),
            html: None,
        };
        let text = String::from_utf8(mailer.message(&ok).unwrap().formatted()).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("\r\nMessage-ID: <") && text.contains("@login.example.com>\r\n"), "{text}");
    }

    #[test]
    fn hello_names() {
        assert_eq!(hello_name(Some("login.example.com")), ClientId::Domain("login.example.com".into()));
        assert_eq!(hello_name(Some("127.0.0.1")), ClientId::Ipv4(std::net::Ipv4Addr::LOCALHOST));
        assert_eq!(hello_name(Some("[::1]")), ClientId::Ipv6(std::net::Ipv6Addr::LOCALHOST));
    }
}
