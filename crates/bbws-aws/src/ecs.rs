//! ECS DescribeServices (RB-003 §3.2.4 step 7: `aws ecs describe-services --cluster
//! bbws-cluster-<env> --services <tenant_id>-wordpress`), as ECS's JSON API (`awsJson1_1`, target
//! `AmazonEC2ContainerServiceV20141113.DescribeServices`), signed with Signature Version 4 by the
//! signer of [`crate::objects`] and sent over reqwest.
//!
//! Why not `aws-sdk-ecs`: one read call, against a crate that adds minutes to the release build of
//! every Lambda on a two-core machine (the reason `objects` exists). The endpoint is the
//! configuration chain's (`AWS_ENDPOINT_URL`), else `https://ecs.<region>.amazonaws.com`.

use bbws_domain::tenant_flow::ServiceObservation;
use bbws_domain::ErrorName;
use serde_json::{json, Value};

use crate::error::BbwsError;
use crate::objects::{with_retries, Objects};
use crate::Aws;

/// ECS of an account and region.
#[derive(Debug, Clone)]
pub struct Ecs {
    signer: Objects,
    endpoint: String,
}

impl Ecs {
    /// ECS of `aws`'s account and region.
    pub fn new(aws: &Aws) -> Ecs {
        let signer = Objects::new(aws);
        let endpoint = signer
            .configured_endpoint()
            .unwrap_or_else(|| format!("https://ecs.{}.amazonaws.com", signer.region()));
        Ecs { signer, endpoint }
    }

    /// The services of `cluster` named `services` (at most 10 per call, as ECS allows), each as
    /// observed; a service ECS reports as MISSING is observed with no status.
    pub async fn describe_services(
        &self,
        cluster: &str,
        services: &[(String, String)],
    ) -> Result<Vec<ServiceObservation>, BbwsError> {
        let mut out = Vec::new();
        for chunk in services.chunks(10) {
            let names: Vec<&str> = chunk.iter().map(|(_, s)| s.as_str()).collect();
            let body = json!({"cluster": cluster, "services": names}).to_string();
            let what = format!("ecs:DescribeServices {} in {cluster}", names.join(", "));
            let answer = with_retries(|| self.call(&body, &what)).await?;
            out.extend(observations(&answer, chunk));
        }
        Ok(out)
    }

    async fn call(&self, body: &str, what: &str) -> Result<Value, BbwsError> {
        let url = format!("{}/", self.endpoint);
        let headers = vec![
            (
                "x-amz-target".to_owned(),
                "AmazonEC2ContainerServiceV20141113.DescribeServices".to_owned(),
            ),
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
        ];
        let signed = self
            .signer
            .signed("ecs", "POST", &url, headers, body.as_bytes(), what)
            .await?;
        let response = self
            .signer
            .send(
                self.signer.http().post(&url).body(body.to_owned()),
                signed,
                what,
            )
            .await?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| BbwsError::transport(format!("{what}: reading the answer"), e))?;
        if (200..300).contains(&status) {
            serde_json::from_str(&text).map_err(|e| {
                BbwsError::new(
                    ErrorName::AwsUnavailable,
                    format!("{what}: the answer is not JSON: {e}"),
                )
            })
        } else {
            Err(json_refusal(status, &text, what))
        }
    }
}

/// The observations of `wanted` ((tenant, service) pairs) in a DescribeServices answer.
fn observations(answer: &Value, wanted: &[(String, String)]) -> Vec<ServiceObservation> {
    let found = answer["services"].as_array().cloned().unwrap_or_default();
    wanted
        .iter()
        .map(|(tenant, service)| {
            let s = found
                .iter()
                .find(|s| s["serviceName"].as_str() == Some(service.as_str()));
            let primary = s.and_then(|s| {
                s["deployments"]
                    .as_array()
                    .and_then(|d| d.iter().find(|d| d["status"] == "PRIMARY"))
            });
            ServiceObservation {
                tenant_id: tenant.clone(),
                service: service.clone(),
                status: s.and_then(|s| s["status"].as_str()).map(str::to_owned),
                desired: s.and_then(|s| s["desiredCount"].as_i64()).unwrap_or(0),
                running: s.and_then(|s| s["runningCount"].as_i64()).unwrap_or(0),
                rollout: primary
                    .and_then(|d| d["rolloutState"].as_str())
                    .map(str::to_owned),
            }
        })
        .collect()
}

/// A JSON protocol error (`__type`, `message`), named as [`crate::error::classify`] names an SDK
/// error: 429, 5xx and throttling transient, any other 4xx permanent.
fn json_refusal(status: u16, text: &str, what: &str) -> BbwsError {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = v["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = v["message"]
        .as_str()
        .or_else(|| v["Message"].as_str())
        .unwrap_or_default();
    let transient =
        status == 429 || status >= 500 || code.contains("Throttl") || code == "ServerException";
    let name = if transient {
        ErrorName::AwsUnavailable
    } else {
        ErrorName::AwsRefused
    };
    let detail = if message.is_empty() {
        code
    } else {
        format!("{code}: {}", message.chars().take(300).collect::<String>())
    };
    BbwsError::new(name, format!("{what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_read_with_their_primary_rollout_and_missing_ones_have_no_status() {
        let answer = json!({"services": [{"serviceName": "tenant-001-wordpress", "status": "ACTIVE",
            "desiredCount": 2, "runningCount": 1, "deployments": [
                {"status": "ACTIVE", "rolloutState": "COMPLETED"},
                {"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}]}],
            "failures": [{"arn": "x", "reason": "MISSING"}]});
        let wanted = [
            ("tenant-001".to_owned(), "tenant-001-wordpress".to_owned()),
            ("tenant-002".to_owned(), "tenant-002-wordpress".to_owned()),
        ];
        let got = observations(&answer, &wanted);
        assert_eq!(got[0].status.as_deref(), Some("ACTIVE"));
        assert_eq!((got[0].desired, got[0].running), (2, 1));
        assert_eq!(got[0].rollout.as_deref(), Some("IN_PROGRESS"));
        assert_eq!(got[1].status, None);
        assert!(!got[1].settled());
    }

    #[test]
    fn json_errors_name_their_type_and_tell_transient_from_permanent() {
        let denied = json_refusal(
            400,
            r#"{"__type": "AccessDeniedException", "message": "User: x is not authorized to perform: ecs:DescribeServices"}"#,
            "ecs:DescribeServices a in c",
        );
        assert_eq!(denied.error_type, ErrorName::AwsRefused);
        assert!(denied.message.contains("AccessDeniedException: User: x"));
        let throttled = json_refusal(400, r#"{"__type": "com.amazon#ThrottlingException"}"#, "w");
        assert_eq!(throttled.error_type, ErrorName::AwsUnavailable);
        assert_eq!(
            json_refusal(503, "", "w").error_type,
            ErrorName::AwsUnavailable
        );
    }
}
