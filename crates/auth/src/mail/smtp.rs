//! Sending through an SMTP relay (the `lettre` crate over tokio and rustls).
//!
//! TLS is never optional where the network is: `smtp://` must upgrade with `STARTTLS` before anything else is said
//! (a relay that does not offer it gets no credentials and no message), `smtps://` is TLS from the first byte, and
//! the relay's certificate is verified against the system's roots plus `[email] ca_files`. Only a relay on a
//! loopback address may be spoken to in clear (`?tls=none`, checked by the configuration). Every connection, command
//! and whole send is bounded in time, so a relay that never answers fails a send instead of holding a request.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gatehouse_types::config::{EmailConfig, SmtpEndpoint, SmtpSecurity};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::MailError;

/// How long connecting, and each command, may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole send (connection, TLS, authentication, the message) may take.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A configured relay.
pub(crate) struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    endpoint: SmtpEndpoint,
}

impl std::fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the transport: it holds the credentials.
        f.debug_struct("SmtpRelay").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl SmtpRelay {
    /// The relay of `[email]` (whose `smtp_url` is `endpoint`): its TLS settings with `ca_files` read relative to
    /// `base_dir`, its credentials with the password taken from `secrets`, and `hello` as the EHLO name. `Err` names
    /// the key.
    pub(crate) fn new(
        config: &EmailConfig,
        endpoint: SmtpEndpoint,
        base_dir: &Path,
        secrets: &BTreeMap<String, String>,
        hello: ClientId,
    ) -> Result<SmtpRelay, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.clone())
            .port(endpoint.port)
            .hello_name(hello)
            .timeout(Some(COMMAND_TIMEOUT));
        if endpoint.security != SmtpSecurity::None {
            let mut tls = TlsParameters::builder(endpoint.host.clone());
            for certificate in load_ca_files(base_dir, &config.ca_files)? {
                tls = tls.add_root_certificate(certificate);
            }
            let tls = tls.build_rustls().map_err(|e| format!("[email] smtp_url: TLS settings: {e}"))?;
            builder = builder.tls(match endpoint.security {
                SmtpSecurity::Tls => Tls::Wrapper(tls),
                _ => Tls::Required(tls),
            });
        }
        if let Some(username) = &config.smtp_username {
            let name = config.smtp_password_secret.as_deref().unwrap_or_default();
            let password = secrets.get(name).filter(|p| !p.is_empty()).ok_or_else(|| {
                format!(
                    "[email] smtp_password_secret: no secret {name:?}: add it to [secrets] or set \
                     GATEHOUSE_SECRET_{name}"
                )
            })?;
            builder = builder
                .credentials(Credentials::new(username.clone(), password.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(SmtpRelay { transport: builder.build(), endpoint })
    }

    /// `host:port`, for logs.
    pub(crate) fn address(&self) -> String {
        format!("{}:{}", self.endpoint.host, self.endpoint.port)
    }

    /// Hands `message` to the relay: one connection, closed afterwards.
    pub(crate) async fn send(&self, message: &Message) -> Result<(), MailError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message.clone())).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Smtp(e.to_string())),
            Err(_elapsed) => Err(MailError::Timeout(SEND_TIMEOUT.as_secs())),
        }
    }
}

/// The certificates of `[email] ca_files` (relative to `base_dir`). A file that cannot be read or holds no
/// certificate is an error naming `[email] ca_files[i]`.
fn load_ca_files(base_dir: &Path, files: &[String]) -> Result<Vec<Certificate>, String> {
    let mut certificates = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let path = base_dir.join(file);
        let key = format!("[email] ca_files[{i}]");
        let pem = std::fs::read(&path).map_err(|e| format!("{key}: {}: {e}", path.display()))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("{key}: {}: holds no PEM certificate", path.display()));
        }
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| format!("{key}: {}: not a PEM certificate bundle: {e}", path.display()))?;
        certificates.push(certificate);
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load_ca_files(dir.path(), &["nope.pem".to_owned()]).unwrap_err();
        assert!(missing.starts_with("[email] ca_files[0]: ") && missing.contains("nope.pem"), "{missing}");
        std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
        let empty = load_ca_files(dir.path(), &["empty.pem".to_owned()]).unwrap_err();
        assert!(empty.contains("holds no PEM certificate"), "{empty}");
        assert!(load_ca_files(dir.path(), &[]).unwrap().is_empty());
    }

    #[test]
    fn credentials_need_their_secret() {
        let config = EmailConfig {
            smtp_url: Some("smtp://mail.example.com".into()),
            smtp_username: Some("mailer".into()),
            smtp_password_secret: Some("SMTP_PASSWORD".into()),
            ..EmailConfig::default()
        };
        let endpoint = || config.smtp_endpoint().unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let hello = || ClientId::Domain("login.example.com".into());
        let err = SmtpRelay::new(&config, endpoint(), dir.path(), &BTreeMap::new(), hello()).unwrap_err();
        assert!(err.starts_with("[email] smtp_password_secret: ") && err.contains("GATEHOUSE_SECRET_SMTP_PASSWORD"));
        let secrets = BTreeMap::from([("SMTP_PASSWORD".to_owned(), "pw".to_owned())]);
        let relay = SmtpRelay::new(&config, endpoint(), dir.path(), &secrets, hello()).unwrap();
        assert_eq!(relay.address(), "mail.example.com:587");
        assert!(!format!("{relay:?}").contains("pw"), "the password never shows in a debug print");
    }
}
