//! What the watch asks of AWS in its own account: the deployment record (read, and a check
//! appended), the watched functions (alias, health, metrics), the alarms, the watch's own running
//! executions (to end older ones) and the events topic. [`AwsAccount`] is the AWS API; the
//! handler's tests use an in-memory one.

use std::time::Duration;

use bbws_aws::functions::{alias_version, health, Health};
use bbws_aws::objects::Objects;
use bbws_aws::{
    executions, metrics, store, Aws, BbwsError, DynamoDbClient, LambdaClients, SfnClient, SnsClient,
};
use serde_json::{Map, Value};

/// The account the watch runs in, seen by the watch.
pub trait Account {
    /// The deployment record `deployment_id` of `table`; `None` when there is none.
    async fn record(
        &self,
        table: &str,
        deployment_id: &str,
    ) -> Result<Option<Map<String, Value>>, BbwsError>;

    /// Appends `check` to the record's `checks` if it still has `known` of them; `false` when it
    /// changed meanwhile.
    async fn append_check(
        &self,
        table: &str,
        deployment_id: &str,
        check: &Value,
        known: usize,
    ) -> Result<bool, BbwsError>;

    /// The version `function:alias` points at in `region`; `None` when there is no such alias.
    async fn serving(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError>;

    /// `function:alias`'s answer to RB-003's health request in `region`.
    async fn health(&self, region: &str, function: &str, alias: &str) -> Result<Health, BbwsError>;

    /// The Sum of the AWS/Lambda `metric` with these dimensions over the last `lookback` in
    /// `region`; `None` when there are no datapoints.
    async fn sum(
        &self,
        region: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
        lookback: Duration,
    ) -> Result<Option<f64>, BbwsError>;

    /// The alarms named `prefix…` in ALARM in `region`.
    async fn alarms_in_alarm(&self, region: &str, prefix: &str) -> Result<Vec<String>, BbwsError>;

    /// The running executions of `state_machine_arn`: (name, ARN).
    async fn running(&self, state_machine_arn: &str) -> Result<Vec<(String, String)>, BbwsError>;

    /// Stops `execution_arn` with `error` and `cause`.
    async fn stop(&self, execution_arn: &str, error: &str, cause: &str) -> Result<(), BbwsError>;

    /// The object at `bucket/key`; `None` when there is none.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError>;

    /// Writes `body` at `bucket/key`.
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BbwsError>;

    /// Publishes to the events topic; `event` is the attribute subscribers filter on.
    async fn notify(
        &self,
        topic_arn: &str,
        event: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError>;
}

/// The account through the AWS API, clients built once (CloudWatch per region asked).
pub struct AwsAccount {
    /// This account.
    pub aws: Aws,
    /// Lambda in each region.
    pub lambda: LambdaClients,
    /// The deployments table's DynamoDB.
    pub dynamodb: DynamoDbClient,
    /// The watch's own executions.
    pub sfn: SfnClient,
    /// The events topic.
    pub sns: SnsClient,
    /// The evidence bucket.
    pub objects: Objects,
}

impl AwsAccount {
    /// The clients of `aws`.
    pub fn new(aws: Aws) -> AwsAccount {
        AwsAccount {
            lambda: LambdaClients::new(&aws),
            dynamodb: aws.dynamodb(),
            sfn: aws.sfn(),
            sns: aws.sns(),
            objects: Objects::new(&aws),
            aws,
        }
    }
}

impl Account for AwsAccount {
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
        self.objects.get(bucket, key).await
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BbwsError> {
        self.objects
            .put(bucket, key, body, content_type)
            .await
            .map(|_| ())
    }

    async fn record(
        &self,
        table: &str,
        deployment_id: &str,
    ) -> Result<Option<Map<String, Value>>, BbwsError> {
        store::get_item(&self.dynamodb, table, "deployment_id", deployment_id).await
    }

    async fn append_check(
        &self,
        table: &str,
        deployment_id: &str,
        check: &Value,
        known: usize,
    ) -> Result<bool, BbwsError> {
        store::append_to_list(
            &self.dynamodb,
            table,
            "deployment_id",
            deployment_id,
            "checks",
            check,
            known,
        )
        .await
    }

    async fn serving(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError> {
        alias_version(&self.lambda.get(region), function, alias).await
    }

    async fn health(&self, region: &str, function: &str, alias: &str) -> Result<Health, BbwsError> {
        health(&self.lambda.get(region), function, alias).await
    }

    async fn sum(
        &self,
        region: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
        lookback: Duration,
    ) -> Result<Option<f64>, BbwsError> {
        metrics::sum(
            &self.aws.cloudwatch_in(region),
            metric,
            dimensions,
            lookback,
        )
        .await
    }

    async fn alarms_in_alarm(&self, region: &str, prefix: &str) -> Result<Vec<String>, BbwsError> {
        let alarms = metrics::alarms_in_alarm(&self.aws.cloudwatch_in(region), prefix).await?;
        Ok(alarms.into_iter().map(|(name, _)| name).collect())
    }

    async fn running(&self, state_machine_arn: &str) -> Result<Vec<(String, String)>, BbwsError> {
        executions::running(&self.sfn, state_machine_arn).await
    }

    async fn stop(&self, execution_arn: &str, error: &str, cause: &str) -> Result<(), BbwsError> {
        executions::stop(&self.sfn, execution_arn, error, cause).await
    }

    async fn notify(
        &self,
        topic_arn: &str,
        event: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError> {
        store::notify(&self.sns, topic_arn, event, subject, message).await
    }
}
