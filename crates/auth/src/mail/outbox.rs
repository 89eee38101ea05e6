//! Email and default-provider SMS delivery to an outbox folder: one file per message, for development and tests.
//!
//! Without `[email] smtp_url` an email is written as `<outbox>/<time>-<n>.eml` (RFC 5322 headers and a text body, or `multipart/alternative` text and HTML),
//! where a developer or a test can pick it up; the default phone provider's SMS always land here. Writes are atomic
//! (temp file, then rename) and synced, so a message acknowledged to the user exists.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Email;

/// The outbox folder.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    counter: AtomicU64,
}

impl Outbox {
    /// An outbox writing into `dir` (created on first use).
    pub fn new(dir: &Path) -> Self {
        Outbox { dir: dir.to_owned(), counter: AtomicU64::new(0) }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a message; returns its file.
    pub async fn send(&self, from: &str, email: &Email) -> std::io::Result<PathBuf> {
        let date =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822).unwrap_or_default();
        let head = format!(
            "From: {from}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n",
            header_safe(&email.to),
            header_safe(&email.subject),
        );
        let text = match &email.html {
            None => format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n", email.body),
            Some(html) => {
                // A boundary no body can contain: random.
                let boundary = format!("=_{}", uuid::Uuid::new_v4().simple());
                format!(
                    "{head}Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
                     --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n\
                     --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n\
                     --{boundary}--\r\n",
                    email.body
                )
            }
        };
        self.write("eml", text).await
    }

    /// Writes an SMS of the default phone provider (`<time>-<n>.sms`: `To`, `From`, a blank line, the text);
    /// returns its file.
    pub async fn send_sms(&self, from: &str, to: &str, text: &str) -> std::io::Result<PathBuf> {
        self.write("sms", format!("To: {}\r\nFrom: {}\r\n\r\n{text}\r\n", header_safe(to), header_safe(from))).await
    }

    /// Writes `text` as `<time>-<n>.<extension>`, atomically (temp file, then rename) and synced.
    async fn write(&self, extension: &str, text: String) -> std::io::Result<PathBuf> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let name = format!("{nanos:020}-{n:04}.{extension}");
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
            std::fs::create_dir_all(&dir)?;
            let final_path = dir.join(&name);
            let temp = dir.join(format!(".{name}.tmp"));
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &final_path)?;
            Ok(final_path)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// Header values never carry line breaks (no header injection through a user's name or email).
fn header_safe(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}
