//! What the record asks of AWS, as small ports: the lock and deployment tables (DynamoDB), the
//! executions holding locks (Step Functions), the events topic (SNS) and the aliases a release
//! ended on (Lambda). The `Aws*` implementations are the AWS API through `bbws_aws`; the handler's
//! tests use in-memory ones.

use bbws_aws::executions::{self, Started};
use bbws_aws::functions::alias_version;
use bbws_aws::objects::Objects;
use bbws_aws::store::{
    acquire_lock, holder_status, notify, put_new, release_lock, take_over_lock, LockHolder,
};
use bbws_aws::{BbwsError, DynamoDbClient, LambdaClients, SfnClient, SnsClient, SsmClient};
use bbws_domain::evidence::StateEvent;
use bbws_domain::HolderStatus;
use serde_json::{Map, Value};

/// A lock asked for: which, for which execution, until when (epoch seconds), since when (RFC 3339).
pub struct Claim<'a> {
    /// The lock's id.
    pub lock_id: &'a str,
    /// The execution asking for it.
    pub execution_arn: &'a str,
    /// Its expiry, epoch seconds.
    pub expires_at: i64,
    /// Now, RFC 3339: the lock's `acquired_at`.
    pub acquired_at: &'a str,
}

/// The lock table and the deployment records.
pub trait Store {
    /// Takes the lock in `table` when it is free, past its expiry (at `now_epoch`) or already this
    /// execution's; else `Ok(Err(holder))` with who holds it.
    async fn acquire_lock(
        &self,
        table: &str,
        claim: &Claim<'_>,
        now_epoch: i64,
    ) -> Result<Result<(), LockHolder>, BbwsError>;

    /// Takes the lock over from `stale_holder` if that execution still holds it, recording
    /// `took_over_from` in the lock; `false` when the lock changed hands meanwhile.
    async fn take_over_lock(
        &self,
        table: &str,
        claim: &Claim<'_>,
        stale_holder: &str,
        took_over_from: &Map<String, Value>,
    ) -> Result<bool, BbwsError>;

    /// Releases `lock_id` if `execution_arn` holds it; whether it did.
    async fn release_lock(
        &self,
        table: &str,
        lock_id: &str,
        execution_arn: &str,
    ) -> Result<bool, BbwsError>;

    /// Writes `record` unless one with the same `key_attr` exists; whether it was written.
    async fn put_new(
        &self,
        table: &str,
        key_attr: &str,
        record: &Map<String, Value>,
    ) -> Result<bool, BbwsError>;

    /// The deployment record `deployment_id`; `None` when there is none.
    async fn get_record(
        &self,
        table: &str,
        deployment_id: &str,
    ) -> Result<Option<Map<String, Value>>, BbwsError>;
}

/// The state machines' executions.
pub trait Executions {
    /// The status of `execution_arn` ([`HolderStatus::Missing`] when it does not exist).
    async fn status(&self, execution_arn: &str) -> Result<HolderStatus, BbwsError>;

    /// Starts `name` of `state_machine_arn` with `input`; one of that name already started (a
    /// retried step) counts as started.
    async fn start(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<Started, BbwsError>;
}

/// The events topic.
pub trait Topic {
    /// Publishes a notification to `topic_arn`; `event` is the attribute subscribers filter on.
    async fn notify(
        &self,
        topic_arn: &str,
        event: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError>;
}

/// This account's functions, in each region.
pub trait Functions {
    /// The version `function:alias` points at in `region`; `None` when there is no such alias.
    async fn alias_version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError>;
}

/// What an execution's evidence is gathered from and written to.
pub trait EvidenceStore {
    /// The states `execution_arn` entered and exited so far, with their times and outputs.
    async fn history(&self, execution_arn: &str) -> Result<Vec<StateEvent>, BbwsError>;

    /// The approvals (`approval#<role>`) and audit items (`audit#…`) of the approval request
    /// `request_id` in `table`; never its `request` item (which holds the task token).
    async fn approval_items(&self, table: &str, request_id: &str) -> Result<Vec<Value>, BbwsError>;

    /// Writes `body` at `bucket/key`.
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BbwsError>;

    /// The approval function's URL (its SSM parameter), ending in `/`: the evidence links point there.
    async fn approval_url(&self) -> Result<String, BbwsError>;
}

/// The lock and deployment tables in DynamoDB.
pub struct AwsStore(pub DynamoDbClient);

impl Store for AwsStore {
    async fn acquire_lock(
        &self,
        table: &str,
        claim: &Claim<'_>,
        now_epoch: i64,
    ) -> Result<Result<(), LockHolder>, BbwsError> {
        acquire_lock(
            &self.0,
            table,
            claim.lock_id,
            claim.execution_arn,
            now_epoch,
            claim.expires_at,
            claim.acquired_at,
        )
        .await
    }

    async fn take_over_lock(
        &self,
        table: &str,
        claim: &Claim<'_>,
        stale_holder: &str,
        took_over_from: &Map<String, Value>,
    ) -> Result<bool, BbwsError> {
        take_over_lock(
            &self.0,
            table,
            claim.lock_id,
            claim.execution_arn,
            stale_holder,
            claim.expires_at,
            claim.acquired_at,
            took_over_from,
        )
        .await
    }

    async fn release_lock(
        &self,
        table: &str,
        lock_id: &str,
        execution_arn: &str,
    ) -> Result<bool, BbwsError> {
        release_lock(&self.0, table, lock_id, execution_arn).await
    }

    async fn put_new(
        &self,
        table: &str,
        key_attr: &str,
        record: &Map<String, Value>,
    ) -> Result<bool, BbwsError> {
        put_new(&self.0, table, key_attr, record).await
    }

    async fn get_record(
        &self,
        table: &str,
        deployment_id: &str,
    ) -> Result<Option<Map<String, Value>>, BbwsError> {
        bbws_aws::store::get_item(&self.0, table, "deployment_id", deployment_id).await
    }
}

/// Step Functions' DescribeExecution.
pub struct AwsExecutions(pub SfnClient);

impl Executions for AwsExecutions {
    async fn status(&self, execution_arn: &str) -> Result<HolderStatus, BbwsError> {
        holder_status(&self.0, execution_arn).await
    }

    async fn start(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<Started, BbwsError> {
        executions::start(&self.0, state_machine_arn, name, input).await
    }
}

/// SNS (an empty topic ARN publishes nothing, see `bbws_aws::store::notify`).
pub struct AwsTopic(pub SnsClient);

impl Topic for AwsTopic {
    async fn notify(
        &self,
        topic_arn: &str,
        event: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError> {
        notify(&self.0, topic_arn, event, subject, message).await
    }
}

/// Lambda's GetAlias, with a client per region built once.
pub struct AwsFunctions(pub LambdaClients);

impl Functions for AwsFunctions {
    async fn alias_version(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<Option<String>, BbwsError> {
        alias_version(&self.0.get(region), function, alias).await
    }
}

/// The execution's history (Step Functions), the approvals table (DynamoDB) and the evidence
/// bucket (S3).
pub struct AwsEvidence {
    /// Step Functions.
    pub sfn: SfnClient,
    /// DynamoDB.
    pub dynamodb: DynamoDbClient,
    /// S3.
    pub objects: Objects,
    /// SSM, and the name of the approval URL's parameter (BBWS_APPROVAL_URL_PARAM).
    pub ssm: SsmClient,
    /// BBWS_APPROVAL_URL_PARAM.
    pub approval_url_param: Option<String>,
}

impl EvidenceStore for AwsEvidence {
    async fn history(&self, execution_arn: &str) -> Result<Vec<StateEvent>, BbwsError> {
        executions::history(&self.sfn, execution_arn).await
    }

    async fn approval_items(&self, table: &str, request_id: &str) -> Result<Vec<Value>, BbwsError> {
        let mut items = Vec::new();
        for prefix in ["approval#", "audit#"] {
            items.extend(
                bbws_aws::approvals::items_with_prefix(&self.dynamodb, table, request_id, prefix)
                    .await?
                    .into_iter()
                    .map(Value::Object),
            );
        }
        Ok(items)
    }

    async fn put(
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
    async fn approval_url(&self) -> Result<String, BbwsError> {
        let name = self
            .approval_url_param
            .as_deref()
            .ok_or_else(|| BbwsError::config("BBWS_APPROVAL_URL_PARAM is not set"))?;
        let url = bbws_aws::approvals::parameter(&self.ssm, name).await?;
        Ok(if url.ends_with('/') {
            url
        } else {
            format!("{url}/")
        })
    }
}
