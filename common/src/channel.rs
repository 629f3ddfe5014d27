//! How every client (worker, judgectl, tests) dials the scheduler: big HTTP/2 windows,
//! keepalive pings, and TLS for `https://` URLs (rustls: the system's roots, or a CA file;
//! optionally a client certificate for mutual TLS).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

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

/// An endpoint for `url` with the transfer settings above and HTTP/2 keepalive pings, which
/// find a dead connection even through NAT boxes that drop idle flows silently. An
/// `https://` URL gets TLS with `tls`; `tls` with an `http://` URL is refused, so that a
/// typo cannot silently send tokens in the clear.
pub fn endpoint(url: &str, tls: &ClientTls) -> Result<Endpoint, ChannelError> {
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
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .tcp_keepalive(Some(Duration::from_secs(10)))
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
        return Ok(endpoint);
    }
    let mut config = ClientTlsConfig::new();
    config = match &tls.ca_cert {
        Some(path) => config.ca_certificate(Certificate::from_pem(read(path)?)),
        None => config.with_native_roots(),
    };
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    endpoint = endpoint
        .tls_config(config)
        .map_err(|e| ChannelError::Tls(e.to_string()))?;
    Ok(endpoint)
}
