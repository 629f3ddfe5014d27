//! TLS for the scheduler: its certificate on every connection (rustls, no OpenSSL), mutual
//! TLS for workers when a client CA is given, and `judge-scheduler tls self-signed` for a
//! classroom without a PKI: a CA, a server certificate for the given host names (and IP
//! addresses) signed by it, and optionally client certificates for workers.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// Where the scheduler's TLS material is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Worker connections must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {why}")]
    Pem { path: String, why: String },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl TlsFiles {
    /// The server's TLS settings. With a client CA, clients may present a certificate; the
    /// worker service then requires one (judgectl and people's clients need none).
    pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
        let identity = Identity::from_pem(read(&self.cert)?, read(&self.key)?);
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(Certificate::from_pem(read(ca)?))
                .client_auth_optional(true);
        }
        Ok(config)
    }
}

impl TlsFiles {
    /// The same certificate for the HTTP side (no client certificates there: people's
    /// browsers and tools present none).
    pub fn rustls_config(&self) -> Result<std::sync::Arc<rustls::ServerConfig>, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem = |path: &Path, why: String| TlsError::Pem {
            path: path.display().to_string(),
            why,
        };
        let certs = CertificateDer::pem_slice_iter(&read(&self.cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem(&self.cert, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(&read(&self.key)?)
            .map_err(|e| pem(&self.key, e.to_string()))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| pem(&self.cert, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| pem(&self.cert, e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(std::sync::Arc::new(config))
    }
}

/// What `tls self-signed` wrote.
#[derive(Debug)]
pub struct Written {
    pub files: Vec<PathBuf>,
}

/// Writes `ca.pem` (give it to workers and judgectl as --ca-cert), `ca-key.pem`,
/// `server.pem` and `server-key.pem` (for `serve --tls-cert/--tls-key`, valid for `hosts`),
/// and for each of `clients` `NAME.pem` and `NAME-key.pem` (a worker's --client-cert and
/// --client-key, for `serve --client-ca ca.pem`). Keys are written with mode 0600.
pub fn self_signed(hosts: &[String], clients: &[String], out: &Path) -> Result<Written, TlsError> {
    std::fs::create_dir_all(out).map_err(|source| TlsError::Write {
        path: out.display().to_string(),
        source,
    })?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "judge self-signed CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut written = Vec::new();
    let mut write = |name: &str, text: &str, secret: bool| -> Result<(), TlsError> {
        let path = out.join(name);
        let fail = |source| TlsError::Write {
            path: path.display().to_string(),
            source,
        };
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if secret { 0o600 } else { 0o644 })
            .open(&path)
            .map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        written.push(path);
        Ok(())
    };
    write("ca.pem", &ca.pem(), false)?;
    write("ca-key.pem", &ca_key_pem, true)?;

    let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(names)?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &ca)?;
        Ok::<_, rcgen::Error>((cert.pem(), key.serialize_pem()))
    };
    let first = hosts.first().map(String::as_str).unwrap_or("judge");
    let (cert, key) = leaf(hosts.to_vec(), first, ExtendedKeyUsagePurpose::ServerAuth)?;
    write("server.pem", &cert, false)?;
    write("server-key.pem", &key, true)?;
    for name in clients {
        let (cert, key) = leaf(Vec::new(), name, ExtendedKeyUsagePurpose::ClientAuth)?;
        write(&format!("{name}.pem"), &cert, false)?;
        write(&format!("{name}-key.pem"), &key, true)?;
    }
    Ok(Written { files: written })
}
