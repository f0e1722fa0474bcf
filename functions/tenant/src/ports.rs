//! What the tenant steps read: deployment records (here, and SIT's for PROD), the plans' artifacts
//! and the tenants' ECS services.

use bbws_aws::ecs::Ecs;
use bbws_aws::objects::Objects;
use bbws_aws::{store, Aws, BbwsError, DynamoDbClient};
use bbws_domain::tenant_flow::ServiceObservation;
use serde_json::Value;

/// A deployments table's records of one `service` key (by the service-timestamp index).
#[allow(async_fn_in_trait)]
pub trait Records {
    /// Every record of `service` in `table`.
    async fn of_service(&self, table: &str, service: &str) -> Result<Vec<Value>, BbwsError>;
}

/// The plans' artifacts.
#[allow(async_fn_in_trait)]
pub trait Plans {
    /// The object at `bucket/key`, or `None` when there is none.
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError>;
}

/// The tenants' services.
#[allow(async_fn_in_trait)]
pub trait Services {
    /// `(tenant, service)` pairs of `cluster` as ECS shows them.
    async fn describe(
        &self,
        cluster: &str,
        services: &[(String, String)],
    ) -> Result<Vec<ServiceObservation>, BbwsError>;
}

/// DynamoDB of an account.
pub struct AwsRecords(DynamoDbClient);

impl AwsRecords {
    /// DynamoDB of `aws`'s account.
    pub fn new(aws: &Aws) -> AwsRecords {
        AwsRecords(aws.dynamodb())
    }
}

impl Records for AwsRecords {
    async fn of_service(&self, table: &str, service: &str) -> Result<Vec<Value>, BbwsError> {
        store::records_of_service(&self.0, table, service).await
    }
}

/// S3 of this account.
pub struct AwsPlans(pub Objects);

impl Plans for AwsPlans {
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
        self.0.get(bucket, key).await
    }
}

/// ECS of this account.
pub struct AwsServices(pub Ecs);

impl Services for AwsServices {
    async fn describe(
        &self,
        cluster: &str,
        services: &[(String, String)],
    ) -> Result<Vec<ServiceObservation>, BbwsError> {
        self.0.describe_services(cluster, services).await
    }
}
