//! What the monitor asks of AWS in the target account: answers of the functions, CloudWatch sums
//! and alarms, and EventBridge rules. [`AwsTarget`] is the AWS API; the handler's tests use an in-memory one.

use std::time::Duration;

use bbws_aws::functions::{health, http_request, Health};
use bbws_aws::{metrics, store, Aws, BbwsError, CloudWatchClient, LambdaClients};

/// The target account, seen by the monitor.
pub trait Watched {
    /// `function:alias`'s answer to RB-003's health request in `region`.
    async fn health(&self, region: &str, function: &str, alias: &str) -> Result<Health, BbwsError>;

    /// `function:alias`'s answer to an API Gateway `request` (JSON) in `region`.
    async fn request(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        request: Vec<u8>,
    ) -> Result<Health, BbwsError>;

    /// The Sum of the AWS/Lambda `metric` with these dimensions over `lookback`, in `region`
    /// (`None`: this account's own region); `None` when there are no datapoints.
    async fn sum(
        &self,
        region: Option<&str>,
        metric: &str,
        dimensions: &[(&str, &str)],
        lookback: Duration,
    ) -> Result<Option<f64>, BbwsError>;

    /// The EventBridge rules in `region` whose names contain `fragment`, with their State.
    async fn rules(&self, region: &str, fragment: &str)
        -> Result<Vec<(String, String)>, BbwsError>;

    /// The `bbws-` CloudWatch alarms in ALARM in `region`, with when each went to ALARM (Unix
    /// seconds).
    async fn alarms_in_alarm(&self, region: &str) -> Result<Vec<(String, i64)>, BbwsError>;
}

/// The target account through the AWS API, clients built once.
pub struct AwsTarget {
    /// This account.
    pub aws: Aws,
    /// Lambda in each region.
    pub lambda: LambdaClients,
    /// CloudWatch in this account's own region.
    pub cloudwatch: CloudWatchClient,
}

impl Watched for AwsTarget {
    async fn health(&self, region: &str, function: &str, alias: &str) -> Result<Health, BbwsError> {
        health(&self.lambda.get(region), function, alias).await
    }

    async fn request(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        request: Vec<u8>,
    ) -> Result<Health, BbwsError> {
        http_request(&self.lambda.get(region), function, alias, request).await
    }

    async fn sum(
        &self,
        region: Option<&str>,
        metric: &str,
        dimensions: &[(&str, &str)],
        lookback: Duration,
    ) -> Result<Option<f64>, BbwsError> {
        match region {
            None => metrics::sum(&self.cloudwatch, metric, dimensions, lookback).await,
            Some(r) => {
                let cw = self.aws.cloudwatch_in(r);
                metrics::sum(&cw, metric, dimensions, lookback).await
            }
        }
    }

    async fn rules(
        &self,
        region: &str,
        fragment: &str,
    ) -> Result<Vec<(String, String)>, BbwsError> {
        let events = store::eventbridge_in(&self.aws.config, region);
        store::rules_containing(&events, fragment).await
    }

    async fn alarms_in_alarm(&self, region: &str) -> Result<Vec<(String, i64)>, BbwsError> {
        metrics::alarms_in_alarm(&self.aws.cloudwatch_in(region), "bbws-").await
    }
}
