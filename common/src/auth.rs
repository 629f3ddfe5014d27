//! The client side of token auth: every call carries `authorization: Bearer <token>`.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

/// The token has characters that cannot go in a header.
#[derive(Debug, thiserror::Error)]
#[error("the token contains characters not allowed in a header")]
pub struct BadToken;

impl Bearer {
    pub fn new(token: &str) -> Result<Bearer, BadToken> {
        format!("Bearer {}", token.trim())
            .parse()
            .map(Bearer)
            .map_err(|_| BadToken)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}
