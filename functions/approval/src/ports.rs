//! What the approval function asks of AWS, as small ports: the approvals table (DynamoDB), the
//! waits' task tokens (Step Functions callbacks), the approval emails and the events topic (SNS),
//! and the deployment's parameters (SSM). The `Aws*` implementations are the AWS API through
//! `bbws_aws`; the handler's tests use in-memory ones.

use bbws_aws::approvals::{
    email_approver, fail, get, items_with_prefix, parameter, put_if_absent, record_approval,
    replace_token, succeed, transition_item, ApprovalWrite, Callback, Item,
};
use bbws_aws::objects::Objects;
use bbws_aws::store::{get_item, notify, to_item};
use bbws_aws::{BbwsError, DynamoDbClient, SfnClient, SnsClient, SsmClient};
use bbws_domain::ErrorName;
use serde_json::Value;

/// The approvals table (`bbws-approvals-<env>`: hash key `request_id`, range key `item`).
pub trait Store {
    /// One item, read consistently; `None` when absent.
    async fn get(
        &self,
        table: &str,
        request_id: &str,
        item: &str,
    ) -> Result<Option<Item>, BbwsError>;

    /// Every item of a request whose range key starts with `prefix`, read consistently.
    async fn items_with_prefix(
        &self,
        table: &str,
        request_id: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, BbwsError>;

    /// Writes `item` unless one with its key exists; `false` when it did.
    async fn put_if_absent(&self, table: &str, item: &Item) -> Result<bool, BbwsError>;

    /// Writes `item`, replacing any item with its key.
    async fn put(&self, table: &str, item: &Item) -> Result<(), BbwsError>;

    /// Moves the request's `status` from `from` to `to` with `fields` set: the request as it is
    /// after the change, `None` when its status was no longer `from`.
    async fn transition(
        &self,
        table: &str,
        request_id: &str,
        from: &str,
        to: &str,
        fields: &Item,
    ) -> Result<Option<Item>, BbwsError>;

    /// A retried ask's task token, while the request is still `pending`; the request is not
    /// ready until that ask has done its work. `false` when it was decided meanwhile.
    async fn replace_token(
        &self,
        table: &str,
        request_id: &str,
        token: &str,
        now: &str,
    ) -> Result<bool, BbwsError>;

    /// An approval and its request's new state in one conditional write
    /// (`bbws_aws::approvals::record_approval`); `false` when a condition no longer held.
    async fn record_approval(
        &self,
        table: &str,
        write: &ApprovalWrite<'_>,
    ) -> Result<bool, BbwsError>;

    /// The deployment record `deployment_id` of `table` (the evidence link's); `None` when absent.
    async fn deployment(&self, table: &str, deployment_id: &str)
        -> Result<Option<Item>, BbwsError>;

    /// The evidence object at `bucket/key`; `None` when absent.
    async fn evidence(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError>;
}

/// The waits of the state machines, answered through their task tokens.
pub trait Callbacks {
    /// SendTaskSuccess with `output`.
    async fn succeed(&self, token: &str, output: &Value) -> Result<Callback, BbwsError>;

    /// SendTaskFailure with `error` and `cause`.
    async fn fail(&self, token: &str, error: ErrorName, cause: &str)
        -> Result<Callback, BbwsError>;
}

/// The approval emails and the events topic.
pub trait Mail {
    /// One approval email to `approver` through `topic_arn`.
    async fn email_approver(
        &self,
        topic_arn: &str,
        approver: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError>;

    /// A notification on the events topic `topic_arn`; `event` is the attribute subscribers
    /// filter on.
    async fn notify(
        &self,
        topic_arn: &str,
        event: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError>;
}

/// The deployment's parameters.
pub trait Parameters {
    /// The value of the parameter whose name the environment variable `var` holds.
    async fn named_by(&self, var: &str) -> Result<String, BbwsError>;
}

/// The approvals and deployments tables in DynamoDB, and the evidence bucket in S3.
pub struct AwsStore(pub DynamoDbClient, pub Objects);

impl Store for AwsStore {
    async fn deployment(
        &self,
        table: &str,
        deployment_id: &str,
    ) -> Result<Option<Item>, BbwsError> {
        get_item(&self.0, table, "deployment_id", deployment_id).await
    }

    async fn evidence(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
        self.1.get(bucket, key).await
    }

    async fn get(
        &self,
        table: &str,
        request_id: &str,
        item: &str,
    ) -> Result<Option<Item>, BbwsError> {
        get(&self.0, table, request_id, item).await
    }

    async fn items_with_prefix(
        &self,
        table: &str,
        request_id: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, BbwsError> {
        items_with_prefix(&self.0, table, request_id, prefix).await
    }

    async fn put_if_absent(&self, table: &str, item: &Item) -> Result<bool, BbwsError> {
        put_if_absent(&self.0, table, item).await
    }

    async fn put(&self, table: &str, item: &Item) -> Result<(), BbwsError> {
        self.0
            .put_item()
            .table_name(table)
            .set_item(Some(to_item(item)))
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("PutItem {table}"), e))?;
        Ok(())
    }

    async fn transition(
        &self,
        table: &str,
        request_id: &str,
        from: &str,
        to: &str,
        fields: &Item,
    ) -> Result<Option<Item>, BbwsError> {
        transition_item(&self.0, table, request_id, from, to, fields).await
    }

    async fn replace_token(
        &self,
        table: &str,
        request_id: &str,
        token: &str,
        now: &str,
    ) -> Result<bool, BbwsError> {
        replace_token(&self.0, table, request_id, token, now).await
    }

    async fn record_approval(
        &self,
        table: &str,
        write: &ApprovalWrite<'_>,
    ) -> Result<bool, BbwsError> {
        record_approval(&self.0, table, write).await
    }
}

/// Step Functions' SendTaskSuccess and SendTaskFailure.
pub struct AwsCallbacks(pub SfnClient);

impl Callbacks for AwsCallbacks {
    async fn succeed(&self, token: &str, output: &Value) -> Result<Callback, BbwsError> {
        succeed(&self.0, token, output).await
    }

    async fn fail(
        &self,
        token: &str,
        error: ErrorName,
        cause: &str,
    ) -> Result<Callback, BbwsError> {
        fail(&self.0, token, error, cause).await
    }
}

/// SNS: the approval topic (filtered by approver) and the events topic.
pub struct AwsMail(pub SnsClient);

impl Mail for AwsMail {
    async fn email_approver(
        &self,
        topic_arn: &str,
        approver: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError> {
        email_approver(&self.0, topic_arn, approver, subject, message).await
    }

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

/// SSM parameters, named by the function's environment.
pub struct AwsParameters(pub SsmClient);

impl Parameters for AwsParameters {
    async fn named_by(&self, var: &str) -> Result<String, BbwsError> {
        let name =
            std::env::var(var).map_err(|_| BbwsError::config(format!("{var} is not set")))?;
        parameter(&self.0, &name).await
    }
}

#[cfg(test)]
pub mod memory;
