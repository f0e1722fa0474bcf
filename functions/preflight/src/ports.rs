//! What the preflight asks of AWS: the source account's functions (and their health), metrics,
//! quality gates and deployment records, and what the target serves now. [`AwsSource`] and [`AwsTarget`] are the AWS API; the handler's
//! tests use in-memory ones.

use std::time::Duration;

use bbws_aws::functions::{alias_version, describe, health, Health};
use bbws_aws::{
    metrics, store, Aws, BbwsError, CloudWatchClient, DynamoDbClient, LambdaClient, LambdaClients,
};
use bbws_domain::{FunctionVersion, GateResult};
use serde_json::Value;

/// The source account, seen by the preflight.
pub trait Source {
    /// `name:qualifier`; `None` when the function or the qualifier does not exist.
    async fn describe(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<FunctionVersion>, BbwsError>;

    /// The Sum of the AWS/Lambda `metric` with these dimensions over `lookback`; `None` when there
    /// are no datapoints.
    async fn sum(
        &self,
        metric: &str,
        dimensions: &[(&str, &str)],
        lookback: Duration,
    ) -> Result<Option<f64>, BbwsError>;

    /// The quality-gate results CI recorded in `table` for the package `code_sha256`.
    async fn gate_results(
        &self,
        table: &str,
        code_sha256: &str,
    ) -> Result<Vec<GateResult>, BbwsError>;

    /// The answer of `name:version` to RB-003's health request.
    async fn health(&self, name: &str, version: &str) -> Result<Health, BbwsError>;

    /// The deployment records of `service` in the source's `table` (promotions and manual
    /// rollbacks, as the record function writes them), oldest first.
    async fn deployment_records(&self, table: &str, service: &str)
        -> Result<Vec<Value>, BbwsError>;
}

/// The target account: what its aliases serve now.
pub trait Target {
    /// The version `function:alias` points at in `region`; `None` when there is no such alias.
    async fn alias_version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError>;
}

/// The source account through its reader role, clients built once.
pub struct AwsSource {
    lambda: LambdaClient,
    cloudwatch: CloudWatchClient,
    dynamodb: DynamoDbClient,
}

impl AwsSource {
    /// Clients of the source account.
    pub fn new(source: &Aws) -> AwsSource {
        AwsSource {
            lambda: source.lambda(None),
            cloudwatch: source.cloudwatch(),
            dynamodb: source.dynamodb(),
        }
    }
}

impl Source for AwsSource {
    async fn describe(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<FunctionVersion>, BbwsError> {
        Ok(describe(&self.lambda, name, Some(qualifier))
            .await?
            .map(|(f, _)| f))
    }

    async fn sum(
        &self,
        metric: &str,
        dimensions: &[(&str, &str)],
        lookback: Duration,
    ) -> Result<Option<f64>, BbwsError> {
        metrics::sum(&self.cloudwatch, metric, dimensions, lookback).await
    }

    async fn gate_results(
        &self,
        table: &str,
        code_sha256: &str,
    ) -> Result<Vec<GateResult>, BbwsError> {
        store::gate_results(&self.dynamodb, table, code_sha256).await
    }

    async fn health(&self, name: &str, version: &str) -> Result<Health, BbwsError> {
        health(&self.lambda, name, version).await
    }

    async fn deployment_records(
        &self,
        table: &str,
        service: &str,
    ) -> Result<Vec<Value>, BbwsError> {
        store::records_of_service(&self.dynamodb, table, service).await
    }
}

/// This account's aliases through the Lambda API.
pub struct AwsTarget(pub LambdaClients);

impl Target for AwsTarget {
    async fn alias_version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError> {
        alias_version(&self.0.get(region), function, alias).await
    }
}
