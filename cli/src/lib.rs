//! judgectl as a library: the pieces the demo and tests share with the command.

pub mod output;
pub mod push;
pub mod submit;

use judge_common::auth::Bearer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel that sends the bearer token with every call.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A gRPC error as one line: what kind, then the server's message.
pub fn status_line(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}
