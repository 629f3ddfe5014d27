//! How every client (worker, judgectl, tests) dials the scheduler: big HTTP/2 windows,
//! keepalive pings, and TLS for `https://` URLs (rustls: the system's roots, or a CA file;
//! optionally a client certificate for mutual TLS).
//!
//! With a CA file the TLS is ours rather than tonic's (a connector of our own), so that a
//! self-signed server certificate given as that CA is accepted as curl and grpcio accept it
//! (see [`crate::pinned`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Identity, Uri};

/// HTTP/2 flow-control window per stream. Test data moves in hundreds of MB; the protocol's
/// default window (64 KiB) would stall every transfer on round trips.
pub const WINDOW: u32 = 8 << 20;
/// Largest HTTP/2 frame. The default (16 KiB) cuts each 4 MiB file chunk into 256 frames.
pub const FRAME: u32 = 1 << 20;

/// How a client proves who the scheduler is, and optionally who it is itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM file of the CA that signed the scheduler's certificate; the system's roots when
    /// absent.
    pub ca_cert: Option<PathBuf>,
    /// PEM certificate and key presented to the scheduler (mutual TLS).
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("bad scheduler URL {url:?}: {why}")]
    Url { url: String, why: String },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS settings: {0}")]
    Tls(String),
}

fn read(path: &Path) -> Result<Vec<u8>, ChannelError> {
    std::fs::read(path).map_err(|source| ChannelError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// TCP keepalive probes: find a dead connection even through NAT boxes that drop idle flows.
const TCP_KEEPALIVE: Duration = Duration::from_secs(10);

/// The scheduler to dial: an endpoint, and our own TLS when a CA file was given.
#[derive(Debug, Clone)]
pub struct Dial {
    endpoint: Endpoint,
    tls: Option<TlsDialer>,
}

impl Dial {
    /// Connects now.
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        match &self.tls {
            None => self.endpoint.connect().await,
            Some(d) => self.endpoint.connect_with_connector(d.service()).await,
        }
    }

    /// Connects at the first call, and again whenever the connection is lost.
    pub fn connect_lazy(&self) -> Channel {
        match &self.tls {
            None => self.endpoint.connect_lazy(),
            Some(d) => self.endpoint.connect_with_connector_lazy(d.service()),
        }
    }
}

/// TCP, then TLS with our verifier, to one `host:port`.
#[derive(Clone)]
struct TlsDialer {
    config: Arc<rustls::ClientConfig>,
    host: String,
    port: u16,
}

impl std::fmt::Debug for TlsDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsDialer({}:{})", self.host, self.port)
    }
}

type Io = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl TlsDialer {
    fn service(
        &self,
    ) -> impl tower::Service<
        Uri,
        Response = Io,
        Error = std::io::Error,
        Future = impl std::future::Future<Output = std::io::Result<Io>> + Send,
    > + Send
           + Clone
           + 'static {
        let dialer = self.clone();
        tower::service_fn(move |_: Uri| {
            let d = dialer.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect((d.host.as_str(), d.port)).await?;
                tcp.set_nodelay(true)?;
                let keepalive = socket2::TcpKeepalive::new()
                    .with_time(TCP_KEEPALIVE)
                    .with_interval(TCP_KEEPALIVE);
                socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive)?;
                let name = rustls::pki_types::ServerName::try_from(d.host.clone())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let tls = tokio_rustls::TlsConnector::from(d.config.clone())
                    .connect(name, tcp)
                    .await?;
                Ok(hyper_util::rt::TokioIo::new(tls))
            }
        })
    }
}

/// The rustls client configuration for a CA file (and a client certificate, if any).
fn rustls_config(
    ca: &Path,
    identity: Option<&(PathBuf, PathBuf)>,
) -> Result<rustls::ClientConfig, ChannelError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |what: &str, e: &dyn std::fmt::Display| ChannelError::Tls(format!("{what}: {e}"));
    let pem = read(ca)?;
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(&ca.display().to_string(), &e))?;
    if cas.is_empty() {
        return Err(ChannelError::Tls(format!(
            "{}: no certificate in the file",
            ca.display()
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(cas.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_err(&format!("{} ({unusable} unusable)", ca.display()), &e))?;
    let verifier = crate::pinned::PinnedOrChain::new(cas, chain);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", &e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err(&cert.display().to_string(), &e))?;
            let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(|e| tls_err(&key.display().to_string(), &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err("client certificate", &e))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// An endpoint for `url` with the transfer settings above and HTTP/2 keepalive pings, which
/// find a dead connection even through NAT boxes that drop idle flows silently. An
/// `https://` URL gets TLS with `tls`; `tls` with an `http://` URL is refused, so that a
/// typo cannot silently send tokens in the clear.
pub fn endpoint(url: &str, tls: &ClientTls) -> Result<Dial, ChannelError> {
    let bad = |why: String| ChannelError::Url {
        url: url.to_string(),
        why,
    };
    let secure = if url.starts_with("https://") {
        true
    } else if url.starts_with("http://") {
        false
    } else {
        return Err(bad("use http://HOST:PORT or https://HOST:PORT".into()));
    };
    let parsed: Uri = url
        .parse()
        .map_err(|e: tonic::codegen::http::uri::InvalidUri| bad(e.to_string()))?;
    let host = parsed
        .host()
        .ok_or_else(|| bad("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_u16().unwrap_or(if secure { 443 } else { 80 });
    // Our own TLS dials `host:port` itself; tonic is then handed the stream as plain HTTP/2.
    let ours = secure && tls.ca_cert.is_some();
    let shared = if ours {
        format!(
            "http://{}",
            parsed.authority().map(|a| a.as_str()).unwrap_or(&host)
        )
    } else {
        url.to_string()
    };
    let mut endpoint = Endpoint::from_shared(shared)
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .tcp_keepalive(Some(TCP_KEEPALIVE))
        .tcp_nodelay(true)
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(2 * WINDOW)
        .max_frame_size(FRAME);
    if !secure {
        if tls != &ClientTls::default() {
            return Err(bad(
                "a CA or client certificate is set, but the URL is http://: use https://".into(),
            ));
        }
        return Ok(Dial {
            endpoint,
            tls: None,
        });
    }
    if let Some(ca) = &tls.ca_cert {
        let config = rustls_config(ca, tls.identity.as_ref())?;
        return Ok(Dial {
            endpoint,
            tls: Some(TlsDialer {
                config: Arc::new(config),
                host,
                port,
            }),
        });
    }
    let mut config = ClientTlsConfig::new().with_native_roots();
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    endpoint = endpoint
        .tls_config(config)
        .map_err(|e| ChannelError::Tls(e.to_string()))?;
    Ok(Dial {
        endpoint,
        tls: None,
    })
}

/// An error and its causes on one line, most specific last, repeats dropped.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}
