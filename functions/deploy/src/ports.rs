//! What the deploy asks of AWS, as two small ports: the source account's packages and the target
//! account's functions. [`AwsSource`] and [`AwsTarget`] are the Lambda API; the handler's tests use
//! in-memory ones.

use std::time::Duration;

use bbws_aws::functions::http_client;
use bbws_aws::functions::{
    describe, download, publish_code, put_alias, restore_latest, HttpClient, LatestRestored,
};
use bbws_aws::{Aws, BbwsError, LambdaClient, LambdaClients};
use bbws_domain::FunctionVersion;

/// How long a published or restored version may take to become Successful.
const UPDATE_WAIT: Duration = Duration::from_secs(45);

/// The source account's function versions and their packages.
pub trait Source {
    /// `name:version` and its package's location; `None` when it does not exist.
    async fn describe(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(FunctionVersion, Option<String>)>, BbwsError>;

    /// The package at `location` (GetFunction's Code.Location); `what` names it in errors.
    async fn download(&self, location: &str, what: &str) -> Result<Vec<u8>, BbwsError>;
}

/// The target account's functions, in each of its regions.
pub trait Target {
    /// Uploads `package` as `function`'s code in `region` and publishes it as a new version.
    async fn publish(
        &self,
        region: &str,
        function: &str,
        package: Vec<u8>,
        description: &str,
    ) -> Result<FunctionVersion, BbwsError>;

    /// Points `function:alias` at `version` in `region`.
    async fn put_alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), BbwsError>;

    /// Gives the unqualified `function` (`$LATEST`) the package of `version` again.
    async fn restore_latest(
        &self,
        region: &str,
        function: &str,
        version: &str,
    ) -> Result<LatestRestored, BbwsError>;
}

/// The source account, reached through its reader role.
pub struct AwsSource {
    lambda: LambdaClient,
    http: HttpClient,
}

impl AwsSource {
    /// The clients of the `source` account.
    pub fn new(source: &Aws) -> AwsSource {
        AwsSource {
            lambda: source.lambda(None),
            http: http_client(),
        }
    }
}

impl Source for AwsSource {
    async fn describe(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(FunctionVersion, Option<String>)>, BbwsError> {
        describe(&self.lambda, name, Some(version)).await
    }

    async fn download(&self, location: &str, what: &str) -> Result<Vec<u8>, BbwsError> {
        download(&self.http, location, what).await
    }
}

/// This account's functions.
pub struct AwsTarget {
    regions: LambdaClients,
    http: HttpClient,
}

impl AwsTarget {
    /// The clients of `aws`'s account.
    pub fn new(aws: &Aws) -> AwsTarget {
        AwsTarget {
            regions: LambdaClients::new(aws),
            http: http_client(),
        }
    }
}

impl Target for AwsTarget {
    async fn publish(
        &self,
        region: &str,
        function: &str,
        package: Vec<u8>,
        description: &str,
    ) -> Result<FunctionVersion, BbwsError> {
        let lambda = self.regions.get(region);
        publish_code(&lambda, function, package, description, UPDATE_WAIT).await
    }

    async fn put_alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), BbwsError> {
        let lambda = self.regions.get(region);
        put_alias(&lambda, function, alias, version, description).await
    }

    async fn restore_latest(
        &self,
        region: &str,
        function: &str,
        version: &str,
    ) -> Result<LatestRestored, BbwsError> {
        let lambda = self.regions.get(region);
        restore_latest(&lambda, &self.http, function, version, UPDATE_WAIT).await
    }
}
