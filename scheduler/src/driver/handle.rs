//! How services reach the driver: typed requests over its bounded channel.

use judge_common::pb;
use tokio::sync::{mpsc, oneshot};

use std::sync::Arc;

use super::{FeedSender, Input, Payload, Request};
use crate::core::{
    CancelError, Event, JobId, Millis, NewJob, RejudgeError, RejudgeJob, Reply, SessionId,
    SubmitError, WorkerHello, WorkerSnapshot,
};
use crate::live::catalog::ProblemVersion;

/// How callers reach the driver.
#[derive(Clone)]
pub struct DriverHandle {
    pub(super) tx: mpsc::Sender<Input>,
    /// The driver's clock, for the services' timestamps.
    pub(super) clock: super::clock::SharedClock,
}

/// The driver could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("the scheduler is shutting down")]
    Gone,
    #[error("internal error: the driver answered a {0} request with another kind of reply")]
    WrongReply(&'static str),
    /// Nothing of the request was stored, for lack of space; it may be tried again later.
    #[error("the scheduler's disk is full, so nothing new can be stored; try again once there is room ({0})")]
    DiskFull(String),
}

impl DriverHandle {
    /// Now, by the driver's clock: the time the services stamp what they store with.
    pub fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Sends an event that needs no answer.
    pub async fn send(&self, event: Event) -> Result<(), DriverError> {
        self.tx
            .send(Input::Event(event))
            .await
            .map_err(|_| DriverError::Gone)
    }

    /// Sends an event from a synchronous context (a `Drop`), without waiting.
    pub fn send_later(&self, event: Event) {
        let tx = self.tx.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tx.send(Input::Event(event)).await;
            });
        }
    }

    /// Asks the driver and waits for the core's answer.
    pub async fn ask(&self, request: Request) -> Result<Reply, DriverError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Input::Ask { request, reply })
            .await
            .map_err(|_| DriverError::Gone)?;
        rx.await.map_err(|_| DriverError::Gone)?
    }

    /// Asks the core to admit `job`; a judge job brings its problem version (its files,
    /// worst case and spec), looked up once by the caller.
    pub async fn submit(
        &self,
        job: NewJob,
        problem: Option<Arc<ProblemVersion>>,
        payload: Payload,
        link: Option<crate::live::consoles::Link>,
    ) -> Result<Result<JobId, SubmitError>, DriverError> {
        let request = Request::Submit {
            job,
            problem,
            payload,
            link,
        };
        match self.ask(request).await? {
            Reply::Submitted(r) => Ok(r),
            _ => Err(DriverError::WrongReply("submit")),
        }
    }

    pub async fn cancel(
        &self,
        job_id: JobId,
    ) -> Result<Result<pb::JobState, CancelError>, DriverError> {
        match self.ask(Request::Cancel { job_id }).await? {
            Reply::Cancelled(r) => Ok(r),
            _ => Err(DriverError::WrongReply("cancel")),
        }
    }

    /// Registers a worker; its session id.
    pub async fn connect(
        &self,
        hello: WorkerHello,
        feed: FeedSender,
    ) -> Result<SessionId, DriverError> {
        match self.ask(Request::Connect { hello, feed }).await? {
            Reply::Connected(session) => Ok(session),
            _ => Err(DriverError::WrongReply("connect")),
        }
    }

    /// `false` when no connected worker has that name.
    pub async fn drain(&self, name: String) -> Result<bool, DriverError> {
        match self.ask(Request::Drain { name }).await? {
            Reply::Drained(found) => Ok(found),
            _ => Err(DriverError::WrongReply("drain")),
        }
    }

    /// `false` when the worker `name` was not quarantined.
    pub async fn release(&self, name: String) -> Result<bool, DriverError> {
        match self.ask(Request::Release { name }).await? {
            Reply::Released(done) => Ok(done),
            _ => Err(DriverError::WrongReply("release")),
        }
    }

    /// Why a queued job waits; `None` if it is not queued.
    pub async fn waiting(&self, job_id: JobId) -> Result<Option<String>, DriverError> {
        Ok(self.waiting_all(vec![job_id]).await?.pop().flatten())
    }

    /// Why each of these jobs waits, in one round trip (a job list's queued jobs).
    pub async fn waiting_all(
        &self,
        job_ids: Vec<JobId>,
    ) -> Result<Vec<Option<String>>, DriverError> {
        match self.ask(Request::Explain { job_ids }).await? {
            Reply::Waiting(why) => Ok(why),
            _ => Err(DriverError::WrongReply("explain")),
        }
    }

    /// Asks the core to queue finished jobs to be judged again on `problem`; all or none.
    pub async fn rejudge(
        &self,
        jobs: Vec<RejudgeJob>,
        problem: Arc<ProblemVersion>,
    ) -> Result<Result<Vec<JobId>, RejudgeError>, DriverError> {
        match self.ask(Request::Rejudge { jobs, problem }).await? {
            Reply::Rejudged(r) => Ok(r),
            _ => Err(DriverError::WrongReply("rejudge")),
        }
    }

    /// How many jobs wait in each class, highest class first.
    pub async fn queue_by_class(&self) -> Result<Vec<usize>, DriverError> {
        match self.ask(Request::QueueByClass).await? {
            Reply::QueueByClass(n) => Ok(n),
            _ => Err(DriverError::WrongReply("queue by class")),
        }
    }

    pub async fn list_workers(&self) -> Result<Vec<WorkerSnapshot>, DriverError> {
        match self.ask(Request::ListWorkers).await? {
            Reply::Workers(list) => Ok(list),
            _ => Err(DriverError::WrongReply("list workers")),
        }
    }
}
