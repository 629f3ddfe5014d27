//! Trusting a self-signed server certificate that the user handed over as the CA.
//!
//! The usual one-liner (`openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=judge -addext
//! subjectAltName=IP:...`) makes a certificate that marks itself a CA and is then served as
//! the server's own. webpki refuses that (`CaUsedAsEndEntity`), while curl and grpcio accept
//! it when it is given as their CA. So a server certificate that is byte for byte one of the
//! certificates in the `--ca-cert` file is accepted here, its name and validity still checked;
//! every other certificate goes through webpki's verification against that file's roots,
//! unchanged.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

/// webpki's verification, plus the certificates given as roots accepted as the server's own.
#[derive(Debug)]
pub struct PinnedOrChain {
    pinned: Vec<CertificateDer<'static>>,
    chain: Arc<WebPkiServerVerifier>,
}

impl PinnedOrChain {
    pub fn new(pinned: Vec<CertificateDer<'static>>, chain: Arc<WebPkiServerVerifier>) -> Self {
        PinnedOrChain { pinned, chain }
    }
}

/// The checks webpki would make of a leaf besides its chain: the name, and the time.
fn check_pinned(
    der: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), Error> {
    let bad = |e: CertificateError| Error::InvalidCertificate(e);
    let leaf =
        webpki::EndEntityCert::try_from(der).map_err(|_| bad(CertificateError::BadEncoding))?;
    leaf.verify_is_valid_for_subject_name(name)
        .map_err(|_| bad(CertificateError::NotValidForName))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|_| bad(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(bad(CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(bad(CertificateError::Expired));
    }
    Ok(())
}

impl ServerCertVerifier for PinnedOrChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            check_pinned(end_entity, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.chain
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}
