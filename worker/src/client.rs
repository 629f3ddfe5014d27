//! The worker's client of the scheduler: one gRPC channel, the worker's token on every call.
//! The connection (feed and reports), the file cache (fetches) and consoles (`Attach`) all
//! use it.

use judge_common::auth::Bearer;
use judge_common::failover::Failover;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use tonic::service::interceptor::InterceptedService;

/// The worker's client of the scheduler (of the one leading, when there are several).
pub type Client = WorkerServiceClient<InterceptedService<Failover, Bearer>>;
