//! `AdminService`: problem upload and worker drain, translated to the application's calls.

use std::sync::Arc;

use judge_common::pb;
use judge_common::pb::admin_service_server::AdminService;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::app::App;

/// The gRPC face of [`App`] for admins.
pub struct AdminApi(pub Arc<App>);

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn push_problem(
        &self,
        req: Request<Streaming<pb::PushProblemRequest>>,
    ) -> Result<Response<pb::PushProblemResponse>, Status> {
        let items = req.into_inner().map(|m| m.map_err(super::broken));
        Ok(Response::new(self.0.push(Box::pin(items)).await?))
    }

    async fn drain_worker(
        &self,
        req: Request<pb::DrainWorkerRequest>,
    ) -> Result<Response<pb::DrainWorkerResponse>, Status> {
        self.0.drain_worker(&req.into_inner().name).await?;
        Ok(Response::new(pb::DrainWorkerResponse {}))
    }
}
