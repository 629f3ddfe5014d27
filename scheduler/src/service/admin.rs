//! `AdminService`: problem upload, worker drain and release, and rejudge, translated to the application's calls.

use std::sync::Arc;

use judge_common::pb;
use judge_common::pb::admin_service_server::AdminService;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::caller;
use crate::app::{App, AppError, Rejudge};

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

    async fn release_worker(
        &self,
        req: Request<pb::ReleaseWorkerRequest>,
    ) -> Result<Response<pb::ReleaseWorkerResponse>, Status> {
        self.0.release_worker(&req.into_inner().name).await?;
        Ok(Response::new(pb::ReleaseWorkerResponse {}))
    }

    async fn rejudge(
        &self,
        req: Request<pb::RejudgeRequest>,
    ) -> Result<Response<pb::RejudgeResponse>, Status> {
        let who = caller(&req)?;
        let r = req.into_inner();
        let verdicts = r
            .verdicts
            .iter()
            .map(|&v| {
                pb::Verdict::try_from(v)
                    .map_err(|_| AppError::Invalid(format!("verdicts: {v} is not a verdict")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cmd = Rejudge {
            problem: r.problem_id,
            verdicts,
            since: r.since_ms,
            jobs: r.job_ids,
            priority: r.priority,
        };
        let done = self.0.rejudge(&who, cmd).await?;
        Ok(Response::new(pb::RejudgeResponse {
            problem_version: done.version,
            jobs: done.jobs,
        }))
    }
}
