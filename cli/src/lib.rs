//! judgectl as a library: the pieces the demo and tests share with the command.

pub mod console;
pub mod output;
pub mod push;
pub mod run;
pub mod submit;
pub mod verify;
pub mod visible;

use judge_common::auth::Bearer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel that sends the bearer token with every call.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A gRPC error as one line: what kind, then the server's message (and, for a connection
/// that failed, why: an untrusted certificate, a plaintext server...).
pub fn status_line(s: &tonic::Status) -> String {
    use std::error::Error;
    match s.source() {
        Some(cause) if s.code() == tonic::Code::Unavailable => {
            format!("{:?}: {}: {}", s.code(), s.message(), error_chain(cause))
        }
        _ => format!("{:?}: {}", s.code(), s.message()),
    }
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
