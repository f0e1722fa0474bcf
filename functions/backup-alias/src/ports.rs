//! What the backup asks of AWS: the target account's aliases, per region. [`AwsAliases`] is the
//! Lambda API; the handler's tests use an in-memory one.

use bbws_aws::functions::{alias_version, put_alias};
use bbws_aws::{BbwsError, LambdaClients};

/// The target account's function aliases, in each of its regions.
pub trait Aliases {
    /// The version `function:alias` points at in `region`; `None` when there is no such alias.
    async fn version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError>;

    /// Points `function:alias` at `version` in `region`, creating the alias when needed.
    async fn put(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), BbwsError>;
}

/// This account's aliases through the Lambda API.
pub struct AwsAliases(pub LambdaClients);

impl Aliases for AwsAliases {
    async fn version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError> {
        alias_version(&self.0.get(region), function, alias).await
    }

    async fn put(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> Result<(), BbwsError> {
        put_alias(&self.0.get(region), function, alias, version, description).await
    }
}
