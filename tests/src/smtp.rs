//! A real SMTP server for the tests: a tokio TCP listener on 127.0.0.1 speaking enough ESMTP for a mail client
//! (EHLO/HELO, STARTTLS, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), with a
//! certificate from [`crate::test_certificates`]. It records every command of every session and every message,
//! decoded (RFC 2047 headers, quoted-printable and base64 bodies), and lets a test wait for the next message.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// How the sink behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Plain greeting; EHLO offers STARTTLS (a relay on port 587, for `smtp://`).
    StartTls,
    /// TLS from the first byte (port 465, for `smtps://`).
    ImplicitTls,
    /// Plain only: STARTTLS is never offered (an old or tampered relay, or a local one for `?tls=none`).
    Plain,
    /// Accepts connections and never says a word.
    Silent,
}

/// One received message.
#[derive(Clone, Debug)]
pub struct SmtpMessage {
    /// `MAIL FROM` address.
    pub mail_from: String,
    /// `RCPT TO` addresses.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA (dot-unstuffed), CRLF line ends.
    pub raw: String,
    /// Headers, unfolded, with RFC 2047 encoded words decoded.
    pub headers: Vec<(String, String)>,
    /// The body, its transfer encoding undone, with `\n` line ends (of a `multipart/alternative` message: its
    /// text part).
    pub body: String,
    /// The HTML part of a `multipart/alternative` message, decoded likewise.
    pub html: Option<String>,
    /// Whether the session was encrypted when the message came.
    pub encrypted: bool,
    /// The user and password the session authenticated with.
    pub auth: Option<(String, String)>,
    /// The commands of the session up to the message (verbs: `EHLO`, `STARTTLS`, `AUTH`, `MAIL`...).
    pub commands: Vec<String>,
}

impl SmtpMessage {
    /// The first header called `name` (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<SmtpMessage>>,
    /// Commands of every session, one list per connection, in arrival order.
    sessions: Mutex<Vec<Arc<Mutex<Vec<String>>>>>,
}

/// The running sink; stops when dropped.
pub struct SmtpSink {
    port: u16,
    dir: tempfile::TempDir,
    shared: Arc<Shared>,
    next: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<SmtpMessage>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Settings {
    mode: SinkMode,
    credentials: Option<(String, String)>,
    tls: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    sender: tokio::sync::mpsc::UnboundedSender<SmtpMessage>,
}

impl SmtpSink {
    /// Starts a sink on 127.0.0.1 (a free port) with its own throwaway CA and certificate. With `credentials`,
    /// EHLO offers AUTH PLAIN LOGIN, only that user and password are accepted, and MAIL needs them.
    pub async fn start(mode: SinkMode, credentials: Option<(&str, &str)>) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        crate::test_certificates(dir.path());
        let tls = tls_acceptor(dir.path());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let settings = Arc::new(Settings {
            mode,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            tls,
            shared: shared.clone(),
            sender,
        });
        let task = tokio::spawn(async move {
            // Silent connections are kept open (and mute) until the sink stops.
            let mut silent = Vec::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let commands = Arc::new(Mutex::new(Vec::new()));
                settings.shared.sessions.lock().unwrap().push(commands.clone());
                if settings.mode == SinkMode::Silent {
                    silent.push(tcp);
                    continue;
                }
                tokio::spawn(serve(settings.clone(), tcp, commands));
            }
        });
        SmtpSink { port, dir, shared, next: tokio::sync::Mutex::new(receiver), task }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM of the CA that signed the sink's certificate (for `[email] ca_files`).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<SmtpMessage> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// The commands of each connection so far (verbs, in order).
    pub fn sessions(&self) -> Vec<Vec<String>> {
        self.shared.sessions.lock().unwrap().iter().map(|s| s.lock().unwrap().clone()).collect()
    }

    /// The next message not yet taken by this call; panics after `timeout`.
    pub async fn next_message(&self, timeout: Duration) -> SmtpMessage {
        let mut next = self.next.lock().await;
        match tokio::time::timeout(timeout, next.recv()).await {
            Ok(Some(message)) => message,
            _ => panic!("no message reached the SMTP sink within {timeout:?}; sessions: {:?}", self.sessions()),
        }
    }
}

fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// One connection: plain then TLS after STARTTLS, or TLS from the start.
async fn serve(settings: Arc<Settings>, tcp: TcpStream, commands: Arc<Mutex<Vec<String>>>) {
    let mut session = Session { auth: None, encrypted: false, commands };
    if settings.mode == SinkMode::ImplicitTls {
        let Ok(tls) = settings.tls.accept(tcp).await else { return };
        session.encrypted = true;
        let _ = session.run(&settings, tls, true).await;
        return;
    }
    if let Ok(Some(tcp)) = session.run(&settings, tcp, true).await
        && let Ok(tls) = settings.tls.accept(tcp).await
    {
        session.encrypted = true;
        let _ = session.run(&settings, tls, false).await;
    }
}

struct Session {
    auth: Option<(String, String)>,
    encrypted: bool,
    commands: Arc<Mutex<Vec<String>>>,
}

impl Session {
    fn record(&self, verb: &str) {
        self.commands.lock().unwrap().push(verb.to_owned());
    }

    /// Speaks SMTP on `stream` until QUIT or a closed connection (`None`), or until STARTTLS is accepted
    /// (`Some(stream)`, to be wrapped in TLS; anything the client pipelined after it is dropped, as RFC 3207 asks).
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        settings: &Settings,
        stream: S,
        greet: bool,
    ) -> std::io::Result<Option<S>> {
        let mut stream = BufReader::new(stream);
        if greet {
            stream.write_all(b"220 sink.test ESMTP ready\r\n").await?;
        }
        let mut mail_from: Option<String> = None;
        let mut rcpt_to = Vec::new();
        loop {
            let Some(line) = read_line(&mut stream).await? else { return Ok(None) };
            let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
            let verb = verb.to_ascii_uppercase();
            self.record(&verb);
            let reply: String = match verb.as_str() {
                "EHLO" => {
                    let mut lines = vec!["sink.test".to_owned(), "8BITMIME".to_owned(), "SMTPUTF8".to_owned()];
                    if settings.mode == SinkMode::StartTls && !self.encrypted {
                        lines.push("STARTTLS".to_owned());
                    }
                    if settings.credentials.is_some() {
                        lines.push("AUTH PLAIN LOGIN".to_owned());
                    }
                    multiline(250, &lines)
                }
                "HELO" => "250 sink.test\r\n".to_owned(),
                "STARTTLS" if settings.mode == SinkMode::StartTls && !self.encrypted => {
                    stream.write_all(b"220 go ahead\r\n").await?;
                    stream.flush().await?;
                    return Ok(Some(stream.into_inner()));
                }
                "STARTTLS" => "502 not offered\r\n".to_owned(),
                "AUTH" => self.auth(settings, &mut stream, argument).await?,
                "MAIL" if settings.credentials.is_some() && self.auth.is_none() => {
                    "530 authentication required\r\n".to_owned()
                }
                "MAIL" => {
                    mail_from = Some(angle(argument));
                    rcpt_to.clear();
                    "250 ok\r\n".to_owned()
                }
                "RCPT" if mail_from.is_none() => "503 MAIL first\r\n".to_owned(),
                "RCPT" => {
                    rcpt_to.push(angle(argument));
                    "250 ok\r\n".to_owned()
                }
                "DATA" if rcpt_to.is_empty() => "503 RCPT first\r\n".to_owned(),
                "DATA" => {
                    stream.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                    let raw = read_data(&mut stream).await?;
                    let (headers, body) = decode(&raw);
                    let (body, html) = alternatives(&headers, &raw, body);
                    let message = SmtpMessage {
                        mail_from: mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        raw,
                        headers,
                        body,
                        html,
                        encrypted: self.encrypted,
                        auth: self.auth.clone(),
                        commands: self.commands.lock().unwrap().clone(),
                    };
                    settings.shared.messages.lock().unwrap().push(message.clone());
                    let _ = settings.sender.send(message);
                    "250 queued\r\n".to_owned()
                }
                "RSET" => {
                    mail_from = None;
                    rcpt_to.clear();
                    "250 ok\r\n".to_owned()
                }
                "NOOP" => "250 ok\r\n".to_owned(),
                "QUIT" => {
                    stream.write_all(b"221 bye\r\n").await?;
                    return Ok(None);
                }
                _ => "500 unknown command\r\n".to_owned(),
            };
            stream.write_all(reply.as_bytes()).await?;
        }
    }

    /// AUTH PLAIN (initial response or after 334) or LOGIN; the reply to send.
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        settings: &Settings,
        stream: &mut BufReader<S>,
        argument: &str,
    ) -> std::io::Result<String> {
        let Some(expected) = &settings.credentials else { return Ok("502 AUTH not offered\r\n".to_owned()) };
        let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
        let decode64 = |s: &str| String::from_utf8(STANDARD.decode(s.trim()).unwrap_or_default()).unwrap_or_default();
        let given = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    stream.write_all(b"334 \r\n").await?;
                    read_line(stream).await?.unwrap_or_default()
                } else {
                    initial.to_owned()
                };
                let plain = decode64(&response);
                let mut parts = plain.split('\0').skip(1);
                (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
            }
            "LOGIN" => {
                let user = if initial.is_empty() {
                    stream.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                    read_line(stream).await?.unwrap_or_default()
                } else {
                    initial.to_owned()
                };
                stream.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                let password = read_line(stream).await?.unwrap_or_default();
                (decode64(&user), decode64(&password))
            }
            _ => return Ok("504 unknown mechanism\r\n".to_owned()),
        };
        if given == *expected {
            self.auth = Some(given);
            Ok("235 authenticated\r\n".to_owned())
        } else {
            Ok("535 authentication failed\r\n".to_owned())
        }
    }
}

/// A line without its CRLF; `None` at the end of the stream.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if stream.read_until(b'\n', &mut bytes).await? == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&bytes);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// DATA up to the lone dot, dot-unstuffed, CRLF line ends.
async fn read_data<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> std::io::Result<String> {
    let mut lines = Vec::new();
    while let Some(line) = read_line(stream).await? {
        if line == "." {
            break;
        }
        lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
    }
    Ok(lines.iter().map(|l| format!("{l}\r\n")).collect())
}

fn multiline(code: u16, lines: &[String]) -> String {
    let last = lines.len() - 1;
    lines.iter().enumerate().map(|(i, l)| format!("{code}{}{l}\r\n", if i == last { ' ' } else { '-' })).collect()
}

/// The address of `FROM:<a@b> SIZE=...` or `TO:<a@b>`.
fn angle(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..].find('>').map_or(argument.len(), |i| start + i);
    argument[start..end].to_owned()
}

/// The text and HTML parts of a `multipart/alternative` message (each decoded as a message of its own); any other
/// message's `body` as it is, without HTML.
fn alternatives(headers: &[(String, String)], raw: &str, body: String) -> (String, Option<String>) {
    let content_type =
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("Content-Type")).map(|(_, v)| v.as_str()).unwrap_or("");
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned());
    let (Some(boundary), true) = (boundary, content_type.to_ascii_lowercase().starts_with("multipart/")) else {
        return (body, None);
    };
    let whole = raw.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let (mut text, mut html) = (None, None);
    for part in whole.split(&format!("--{boundary}")).skip(1) {
        let part = part.trim_start_matches("\r\n");
        if part.starts_with("--") {
            break;
        }
        let (part_headers, part_body) = decode(part.trim_end_matches("\r\n"));
        let kind = part_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        if kind.starts_with("text/plain") {
            text = Some(part_body);
        } else if kind.starts_with("text/html") {
            html = Some(part_body);
        }
    }
    (text.unwrap_or(body), html)
}

/// Headers (unfolded, RFC 2047 decoded) and body (transfer encoding undone, `\n` line ends) of a raw message.
pub fn decode(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = decode_words(value);
    }
    let encoding = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let bytes = match encoding.as_str() {
        "base64" => STANDARD.decode(body.split_whitespace().collect::<String>()).unwrap(),
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    let text = String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
    (headers, text)
}

/// RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); whitespace between two of them is dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut previous_was_word = false;
    for token in value.split([' ', '\t']).filter(|t| !t.is_empty()) {
        let word = token.strip_prefix("=?").and_then(|t| t.strip_suffix("?=")).and_then(|inner| {
            let mut parts = inner.splitn(3, '?');
            let (_charset, kind, text) = (parts.next()?, parts.next()?, parts.next()?);
            match kind.to_ascii_lowercase().as_str() {
                "b" => STANDARD.decode(text).ok(),
                "q" => Some(quoted_printable(&text.replace('_', " "))),
                _ => None,
            }
        });
        match word {
            Some(bytes) => {
                if !previous_was_word && !out.is_empty() {
                    out.push(' ');
                }
                pending.extend(bytes);
                previous_was_word = true;
            }
            None => {
                out.push_str(&String::from_utf8_lossy(&std::mem::take(&mut pending)));
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
                previous_was_word = false;
            }
        }
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let raw = "Subject: =?utf-8?b?QWNtZSDjga4=?=\r\n =?utf-8?b?56K66KqN44Kz44O844OJ?=\r\nFrom: A <a@b>\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\ncode is: 1=\r\n23=3D\r\n";
        let (headers, body) = decode(raw);
        assert_eq!(headers[0], ("Subject".to_owned(), "Acme の確認コード".to_owned()));
        assert_eq!(body, "code is: 123=\n");
        assert_eq!(decode_words("plain words"), "plain words");
        assert_eq!(angle("FROM:<a@b.c> SIZE=10"), "a@b.c");
    }
}
