//! TLS to PostgreSQL (`sslmode=require`): rustls with the aws-lc-rs provider, the server's certificate verified
//! against the system's root certificates and, when given, a CA file's (a private CA, a cloud provider's bundle).

use std::path::Path;
use std::sync::Arc;

use crate::{StoreError, StoreResult};

/// The client configuration: verified server certificates only (no `sslmode=require`-without-verification, which
/// libpq allows and a man in the middle enjoys).
pub(super) fn client_config(ca_file: Option<&Path>) -> StoreResult<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).map_err(|e| StoreError::Backend(format!("[store] ca_file {}: {e}", path.display())))?;
        let certs = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Backend(format!("[store] ca_file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(StoreError::Backend(format!("[store] ca_file {}: no PEM certificate", path.display())));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| StoreError::Backend(format!("[store] ca_file {}: {e}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Backend(
            "sslmode=require: no root certificate to verify the server with (no system roots; set [store] ca_file)"
                .to_owned(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS to PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
