//! AWS clients, built once per process.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use bbws_domain::env::{PRIMARY_REGION, PROD_FAILOVER_REGION};

/// A Lambda client.
pub type LambdaClient = aws_sdk_lambda::Client;
/// A CloudWatch client.
pub type CloudWatchClient = aws_sdk_cloudwatch::Client;
/// A DynamoDB client.
pub type DynamoDbClient = aws_sdk_dynamodb::Client;
/// An SNS client.
pub type SnsClient = aws_sdk_sns::Client;
/// A Step Functions client.
pub type SfnClient = aws_sdk_sfn::Client;
/// An SSM client.
pub type SsmClient = aws_sdk_ssm::Client;

/// The clients of one account, built once per process and shared by every event.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Lambda, in each region.
    pub lambda: LambdaClients,
    /// DynamoDB.
    pub dynamodb: DynamoDbClient,
    /// SNS.
    pub sns: SnsClient,
    /// Step Functions.
    pub sfn: SfnClient,
    /// SSM.
    pub ssm: SsmClient,
}

impl Clients {
    /// Every client of `aws`'s account.
    pub fn new(aws: &Aws) -> Clients {
        Clients {
            lambda: LambdaClients::new(aws),
            dynamodb: aws.dynamodb(),
            sns: aws.sns(),
            sfn: aws.sfn(),
            ssm: aws.ssm(),
        }
    }
}

/// How long one attempt of an AWS call may take before the SDK gives up on it and retries (a
/// connection that hangs): longer than any call of the pipeline takes when AWS is well (a package
/// upload of UpdateFunctionCode is the longest), far shorter than the functions' own timeouts.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one AWS call may take with its retries: it then fails as transient (Bbws.AwsUnavailable)
/// and the state machine's Retry takes over.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(45);

/// The HTTPS client every SDK client of the process uses: rustls with ring's cryptography and the
/// platform's trust store.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The configuration of this function's own account, and clients made from it.
#[derive(Debug, Clone)]
pub struct Aws {
    /// This account (the function's execution role).
    pub config: SdkConfig,
}

impl Aws {
    /// The standard chain: region, credentials and endpoint (`AWS_ENDPOINT_URL`) from the environment,
    /// with timeouts on every call ([`ATTEMPT_TIMEOUT`], [`OPERATION_TIMEOUT`]), over one HTTPS
    /// client (rustls on ring; the SDK's default clients are not compiled in, see Cargo.toml).
    pub async fn load() -> Aws {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        Aws {
            config: aws_config::defaults(BehaviorVersion::latest())
                .http_client(https_client())
                .timeout_config(timeouts)
                .load()
                .await,
        }
    }

    /// The configuration of another account reached through `role_arn` (sts:AssumeRole); the
    /// credentials are fetched on first use and refreshed by the provider.
    pub async fn assume(&self, role_arn: &str, session_name: &str) -> Aws {
        let provider = AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(&self.config)
            .build()
            .await;
        Aws {
            config: self
                .config
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build(),
        }
    }

    /// The source account, reached through the reader role `settings` name; the settings' error
    /// when they cannot be used or name no such role (an environment nothing is promoted from).
    pub async fn source_account(
        &self,
        settings: &Result<crate::Settings, crate::BbwsError>,
        session_name: &str,
    ) -> Result<Aws, crate::BbwsError> {
        let settings = settings.as_ref().map_err(Clone::clone)?;
        let role = settings.source_reader()?;
        Ok(self.assume(role, session_name).await)
    }

    /// A Lambda client, in `region` when given (PROD's failover), else this account's region.
    pub fn lambda(&self, region: Option<&str>) -> aws_sdk_lambda::Client {
        let mut b = aws_sdk_lambda::config::Builder::from(&self.config);
        if let Some(r) = region {
            b = b.region(Region::new(r.to_owned()));
        }
        aws_sdk_lambda::Client::from_conf(b.build())
    }

    /// A CloudWatch client.
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    /// A CloudWatch client in another region (PROD's failover).
    pub fn cloudwatch_in(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }

    /// A DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// An SNS client.
    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.config)
    }

    /// An SSM client.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }

    /// A Step Functions client.
    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.config)
    }

    /// An EventBridge client.
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.config)
    }
}

/// Lambda clients of one account, one per region an environment can have, built once.
#[derive(Debug, Clone)]
pub struct LambdaClients {
    aws: Aws,
    clients: HashMap<String, LambdaClient>,
}

impl LambdaClients {
    /// Clients of `aws`'s account in the primary and the failover region.
    pub fn new(aws: &Aws) -> LambdaClients {
        let clients = [PRIMARY_REGION, PROD_FAILOVER_REGION]
            .into_iter()
            .map(|r| (r.to_owned(), aws.lambda(Some(r))))
            .collect();
        LambdaClients {
            aws: aws.clone(),
            clients,
        }
    }

    /// The client of `region` (made now for a region no environment has).
    pub fn get(&self, region: &str) -> LambdaClient {
        self.clients
            .get(region)
            .cloned()
            .unwrap_or_else(|| self.aws.lambda(Some(region)))
    }
}
