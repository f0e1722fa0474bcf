//! What a rollback asks of AWS: this account's functions (aliases, versions, health, `$LATEST`)
//! and its deployment records. [`AwsFunctions`] and [`AwsRecords`] are the AWS API; the tests use
//! in-memory ones.

use std::time::Duration;

use bbws_aws::functions::{
    alias_version, health, http_client, list_aliases, list_versions, put_alias, restore_latest,
    Health, HttpClient, LatestRestored,
};
use bbws_aws::store::records_of_service;
use bbws_aws::{Aws, BbwsError, DynamoDbClient, LambdaClients};
use serde_json::Value;

/// How long an upload of `$LATEST` may take to become Successful.
const LATEST_WAIT: Duration = Duration::from_secs(20);

/// This account's functions, in each of its regions.
pub trait Functions {
    /// The version `function:alias` points at; `None` when there is no such alias.
    async fn alias_version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError>;

    /// Points `function:alias` at `version`, creating the alias when needed.
    async fn put_alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), BbwsError>;

    /// Every alias of `function`: (name, version).
    async fn aliases(
        &self,
        region: &str,
        function: &str,
    ) -> Result<Vec<(String, String)>, BbwsError>;

    /// Every published version of `function`: (version, CodeSha256).
    async fn versions(
        &self,
        region: &str,
        function: &str,
    ) -> Result<Vec<(String, String)>, BbwsError>;

    /// `function:alias`'s answer to RB-003's health request.
    async fn health(&self, region: &str, function: &str, alias: &str) -> Result<Health, BbwsError>;

    /// Gives the unqualified `function` (`$LATEST`) the package of `version`.
    async fn restore_latest(
        &self,
        region: &str,
        function: &str,
        version: &str,
    ) -> Result<LatestRestored, BbwsError>;
}

/// This account's deployment records.
pub trait Records {
    /// Every record of `service` in `table`, oldest first.
    async fn of_service(&self, table: &str, service: &str) -> Result<Vec<Value>, BbwsError>;
}

/// This account's functions through the Lambda API, clients built once.
pub struct AwsFunctions {
    lambda: LambdaClients,
    http: HttpClient,
}

impl AwsFunctions {
    /// The clients of `aws`'s account.
    pub fn new(aws: &Aws) -> AwsFunctions {
        AwsFunctions {
            lambda: LambdaClients::new(aws),
            http: http_client(),
        }
    }
}

impl Functions for AwsFunctions {
    async fn alias_version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError> {
        alias_version(&self.lambda.get(region), function, alias).await
    }

    async fn put_alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), BbwsError> {
        put_alias(
            &self.lambda.get(region),
            function,
            alias,
            version,
            description,
        )
        .await
    }

    async fn aliases(
        &self,
        region: &str,
        function: &str,
    ) -> Result<Vec<(String, String)>, BbwsError> {
        list_aliases(&self.lambda.get(region), function).await
    }

    async fn versions(
        &self,
        region: &str,
        function: &str,
    ) -> Result<Vec<(String, String)>, BbwsError> {
        list_versions(&self.lambda.get(region), function).await
    }

    async fn health(&self, region: &str, function: &str, alias: &str) -> Result<Health, BbwsError> {
        health(&self.lambda.get(region), function, alias).await
    }

    async fn restore_latest(
        &self,
        region: &str,
        function: &str,
        version: &str,
    ) -> Result<LatestRestored, BbwsError> {
        let lambda = self.lambda.get(region);
        restore_latest(&lambda, &self.http, function, version, LATEST_WAIT).await
    }
}

/// This account's deployment records in DynamoDB.
pub struct AwsRecords(pub DynamoDbClient);

impl Records for AwsRecords {
    async fn of_service(&self, table: &str, service: &str) -> Result<Vec<Value>, BbwsError> {
        records_of_service(&self.0, table, service).await
    }
}
