//! `JudgeService`: submit, follow and cancel jobs, list workers and problems, open a
//! console. Each method translates its message to the application's command and back.

use std::sync::Arc;

use judge_common::pb;
use judge_common::pb::judge_service_server::JudgeService;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use super::{broken, caller};
use crate::app::{App, ListJobs, SubmitJob};

/// The gRPC face of [`App`] for people.
pub struct JudgeApi(pub Arc<App>);

/// A stream of the application's items as gRPC sends them.
pub type Outgoing<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl JudgeService for JudgeApi {
    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let who = caller(&req)?;
        let r = req.into_inner();
        let cmd = SubmitJob {
            problem: r.problem_id,
            language: r.language,
            source: r.source,
            job_type: r.job_type,
            run_all_tests: r.run_all_tests,
            request_id: r.request_id,
            stdin: r.stdin,
            limits: r.limits,
            supersede_key: r.supersede_key,
            priority: r.priority,
        };
        let job_id = self.0.submit(&who, cmd).await?;
        Ok(Response::new(pb::SubmitResponse { job_id }))
    }

    type ConsoleStream = Outgoing<pb::ConsoleEvent>;

    async fn console(
        &self,
        req: Request<tonic::Streaming<pb::ConsoleRequest>>,
    ) -> Result<Response<Self::ConsoleStream>, Status> {
        let who = caller(&req)?;
        let requests = req.into_inner().map(|m| m.map_err(broken));
        let events = self.0.open_console(&who, Box::pin(requests)).await?;
        Ok(Response::new(Box::pin(
            events.map(|e| e.map_err(Status::from)),
        )))
    }

    async fn get_job(&self, req: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        let who = caller(&req)?;
        Ok(Response::new(
            self.0.get_job(&who, req.into_inner().job_id).await?,
        ))
    }

    type WatchJobStream = Outgoing<pb::JobEvent>;

    async fn watch_job(
        &self,
        req: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let who = caller(&req)?;
        let r = req.into_inner();
        let events = self.0.watch_job(&who, r.job_id, r.after_seq).await?;
        Ok(Response::new(Box::pin(
            events.map(|e| e.map_err(Status::from)),
        )))
    }

    async fn cancel_job(
        &self,
        req: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let who = caller(&req)?;
        let state = self.0.cancel_job(&who, req.into_inner().job_id).await?;
        Ok(Response::new(pb::CancelJobResponse {
            state: state as i32,
        }))
    }

    async fn list_jobs(
        &self,
        req: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let who = caller(&req)?;
        let r = req.into_inner();
        let state = match r.state.map(pb::JobState::try_from) {
            Some(Ok(pb::JobState::Unspecified) | Err(_)) => {
                return Err(Status::invalid_argument(format!(
                    "state {:?} is not a job state",
                    r.state
                )))
            }
            Some(Ok(s)) => Some(s),
            None => None,
        };
        let q = ListJobs {
            limit: r.limit,
            state,
            problem: r.problem_id,
            owner: r.owner,
            before: r.before_job_id,
        };
        let jobs = self.0.list_jobs(&who, q).await?;
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    async fn list_workers(
        &self,
        _req: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let workers = self.0.list_workers().await?;
        Ok(Response::new(pb::ListWorkersResponse { workers }))
    }

    async fn list_problems(
        &self,
        _req: Request<pb::ListProblemsRequest>,
    ) -> Result<Response<pb::ListProblemsResponse>, Status> {
        let problems = self.0.list_problems().await?;
        Ok(Response::new(pb::ListProblemsResponse { problems }))
    }
}
