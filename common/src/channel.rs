//! How every client (worker, judgectl, tests) dials the scheduler.

use std::time::Duration;

use tonic::transport::Endpoint;

/// HTTP/2 flow-control window per stream. Test data moves in hundreds of MB; the protocol's
/// default window (64 KiB) would stall every transfer on round trips.
pub const WINDOW: u32 = 8 << 20;
/// Largest HTTP/2 frame. The default (16 KiB) cuts each 4 MiB file chunk into 256 frames.
pub const FRAME: u32 = 1 << 20;

/// An endpoint for `url` with the transfer settings above and HTTP/2 keepalive pings, which
/// find a dead connection even through NAT boxes that drop idle flows silently.
pub fn endpoint(url: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .tcp_keepalive(Some(Duration::from_secs(10)))
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(2 * WINDOW)
        .max_frame_size(FRAME))
}
