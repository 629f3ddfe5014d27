//! Where the cache's files come from: the scheduler's `FetchFile`, in production. The cache
//! only asks for a file's chunks from an offset (to resume a broken transfer), so anything
//! that can answer that stands in: tests serve files from memory, breaking and corrupting
//! transfers on purpose.

use std::future::Future;
use std::pin::Pin;

use judge_common::pb;
use tokio_stream::Stream;

use crate::client::Client;

/// A file's chunks, in order; an error breaks the transfer (the cache resumes it).
pub type Chunks = Pin<Box<dyn Stream<Item = Result<pb::FileChunk, tonic::Status>> + Send>>;

/// What a fetch answers: the chunks, or why there are none (`NOT_FOUND` is final; anything
/// else is tried again).
pub type Fetching<'a> = Pin<Box<dyn Future<Output = Result<Chunks, tonic::Status>> + Send + 'a>>;

/// A source of the files the cache holds.
pub trait Fetch: Send + Sync + 'static {
    /// The chunks of file `sha256` from byte `offset` on.
    fn fetch(&self, sha256: &str, offset: u64) -> Fetching<'_>;
}

impl Fetch for Client {
    fn fetch(&self, sha256: &str, offset: u64) -> Fetching<'_> {
        let req = pb::FetchFileRequest {
            sha256: sha256.to_string(),
            offset,
        };
        let mut client = self.clone();
        Box::pin(async move {
            let stream = client.fetch_file(req).await?.into_inner();
            Ok(Box::pin(stream) as Chunks)
        })
    }
}
