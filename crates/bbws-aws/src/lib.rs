//! AWS adapters of the BBWS promotion Lambdas.
//!
//! The runbook's rules live in `bbws-domain`; this crate only talks to AWS. Clients are built once
//! per process from the standard configuration chain, so the same binary reaches AWS or the local
//! estate depending on `AWS_ENDPOINT_URL` alone.

pub mod approvals;
pub mod clients;
pub mod ecs;
pub mod error;
pub mod executions;
pub mod functions;
pub mod metrics;
pub mod objects;
pub mod runtime;
pub mod settings;
pub mod store;

pub use clients::{
    Aws, Clients, CloudWatchClient, DynamoDbClient, LambdaClient, LambdaClients, SfnClient,
    SnsClient, SsmClient,
};
pub use error::BbwsError;
pub use settings::Settings;
