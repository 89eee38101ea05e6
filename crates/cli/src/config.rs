//! Loading `gatehouse.toml`: unknown keys and bad values stop the server with the file, the key and the reason.

use std::path::{Path, PathBuf};

use gatehouse_types::config::TenantConfig;

/// A configuration loaded and checked, with the folder relative paths are resolved against.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: TenantConfig,
    /// The configuration file's folder.
    pub base_dir: PathBuf,
}

/// Reads, parses and validates `path`; `--listen` and `--data-dir` override the file.
/// The `--data-dir` of the command being run (`users`, `roles`, `orgs`, `keys`, `logs`), set once by `main`: it
/// overrides `data_dir` wherever those commands load the configuration, as `serve --data-dir` does.
static DATA_DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the `--data-dir` of this run.
pub fn set_data_dir(data_dir: Option<String>) {
    if let Some(data_dir) = data_dir {
        let _ = DATA_DIR.set(data_dir);
    }
}

pub fn load(path: &Path, listen: Option<String>, data_dir: Option<String>) -> Result<Loaded, String> {
    let data_dir = data_dir.or_else(|| DATA_DIR.get().cloned());
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let deserializer = toml::Deserializer::parse(&text).map_err(|e| located(path, &text, &e, None))?;
    // serde_path_to_error names the key a value belongs to (`attack_protection.max_attempts`).
    let mut config: TenantConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        located(path, &text, e.inner(), (key != ".").then_some(key))
    })?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    // The store's URL may carry a password: the environment keeps it out of the file.
    if let Ok(url) = std::env::var("GATEHOUSE_STORE_URL")
        && !url.is_empty()
    {
        config.store.url = Some(url);
    }
    let problems = config.validate();
    if !problems.is_empty() {
        let lines: Vec<String> =
            problems.iter().map(|p| format!("{}: {}: {}", path.display(), p.key, p.reason)).collect();
        return Err(lines.join("\n"));
    }
    let base_dir =
        path.parent().map(Path::to_owned).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| PathBuf::from("."));
    // Phone templates are Liquid: one that does not parse is refused here, with its key.
    gatehouse_auth::phone::templates::PhoneTemplates::new(
        config.mfa.phone.enrollment_template.as_deref(),
        config.mfa.phone.verification_template.as_deref(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    // A phone provider that is an action needs its file; said before anything is created (the tenant checks the
    // loaded flow again).
    if let Some(trigger) = config.mfa.phone.provider.trigger() {
        let dir = resolve(&base_dir, &config.actions_dir).join(trigger.id());
        let has_action = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "js")))
            .unwrap_or(false);
        if !has_action {
            return Err(format!(
                "{}: mfa.phone.provider: \"{}\" needs its action: no {}/*.js exporting {} was found",
                path.display(),
                trigger.id(),
                dir.display(),
                trigger.handler()
            ));
        }
    }
    Ok(Loaded { config, base_dir })
}

/// `file:line: key: message` for a TOML error.
fn located(path: &Path, text: &str, e: &toml::de::Error, key: Option<String>) -> String {
    let location = e
        .span()
        .map(|span| format!(":{}", text[..span.start.min(text.len())].matches('\n').count() + 1))
        .unwrap_or_default();
    let key = key.map(|k| format!("{k}: ")).unwrap_or_default();
    format!("{}{location}: {key}{}", path.display(), e.message())
}

/// Resolves a configured path against the configuration's folder.
pub fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() { path.to_owned() } else { base.join(path) }
}

/// With `listen` on port 0, the port the server actually got replaces port 0 in the issuer (tests).
pub fn issuer_for(issuer: &str, configured_listen: &str, bound: std::net::SocketAddr) -> String {
    let configured_port_zero = configured_listen.ends_with(":0");
    if configured_port_zero && issuer.contains(":0/") {
        issuer.replacen(":0/", &format!(":{}/", bound.port()), 1)
    } else {
        issuer.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn wrong_types_name_the_key() {
        let (_dir, path) = write("issuer = \"http://127.0.0.1:3000/\"\n[attack_protection]\nmax_attempts = \"ten\"\n");
        let err = load(&path, None, None).expect_err("wrong type");
        assert!(err.contains("gatehouse.toml:3: attack_protection.max_attempts: invalid type"), "{err}");
    }

    #[test]
    fn unknown_keys_name_the_file_line_and_key() {
        let (_dir, path) = write("issuer = \"http://127.0.0.1:3000/\"\n[mfa]\npolicyy = \"always\"\n");
        let err = load(&path, None, None).expect_err("unknown key");
        assert!(err.contains("gatehouse.toml:3"), "{err}");
        assert!(err.contains("policyy"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let (_dir, path) = write(
            "issuer = \"http://127.0.0.1:3000\"\n[[clients]]\nclient_id = \"a\"\nname = \"A\"\napp_type = \"spa\"\nclient_secret = \"x\"\n",
        );
        let err = load(&path, None, None).expect_err("invalid");
        assert!(err.contains("issuer:"), "{err}");
        assert!(err.contains("clients[0].client_secret"), "{err}");
    }

    #[test]
    fn port_zero_issuer_takes_the_bound_port() {
        let bound: std::net::SocketAddr = "127.0.0.1:41234".parse().expect("addr");
        assert_eq!(issuer_for("http://127.0.0.1:0/", "127.0.0.1:0", bound), "http://127.0.0.1:41234/");
        assert_eq!(issuer_for("https://login.example.com/", "0.0.0.0:0", bound), "https://login.example.com/");
    }
}
