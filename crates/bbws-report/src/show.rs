//! `show`: one execution's evidence, read from where its deployment record says it is.

use bbws_aws::objects::Objects;
use bbws_aws::store::get_item;
use bbws_aws::Aws;
use bbws_domain::naming::deployments_table;
use serde_json::{Map, Value};

use crate::args::ShowArgs;

/// The outcomes a deployment id ends with (`<execution name>:<outcome>`), most likely first.
const OUTCOMES: [&str; 3] = ["succeeded", "rolled_back", "failed"];

/// The deployment ids an argument may name: itself when it is one, else the execution's name with
/// each outcome (an execution has one record per outcome it ended with, normally one).
pub fn candidate_ids(target: &str) -> Vec<String> {
    if let Some(name) = target
        .split(":execution:")
        .nth(1)
        .and_then(|rest| rest.rsplit(':').next())
    {
        return OUTCOMES.iter().map(|o| format!("{name}:{o}")).collect();
    }
    if OUTCOMES.iter().any(|o| target.ends_with(&format!(":{o}"))) {
        return vec![target.to_owned()];
    }
    OUTCOMES.iter().map(|o| format!("{target}:{o}")).collect()
}

/// Where the record says its evidence is: (bucket, prefix).
pub fn place_of(record: &Map<String, Value>) -> Result<(String, String), String> {
    let id = record
        .get("deployment_id")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let evidence = record.get("evidence").ok_or_else(|| {
        format!("the record {id} has no evidence field: it was written before evidence was kept")
    })?;
    let field = |name: &str| {
        evidence
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && *v != "-")
            .map(str::to_owned)
            .ok_or_else(|| format!("the record {id}'s evidence names no {name}"))
    };
    Ok((field("bucket")?, field("prefix")?))
}

/// The file `args` asks for, as text.
pub async fn show(aws: &Aws, args: &ShowArgs) -> Result<String, String> {
    let table = deployments_table(args.env);
    let ddb = aws.dynamodb();
    let mut record = None;
    for id in candidate_ids(&args.target) {
        let found = get_item(&ddb, &table, "deployment_id", &id)
            .await
            .map_err(|e| format!("{} ({})", e.message, e.error_type))?;
        if found.is_some() {
            record = found;
            break;
        }
    }
    let Some(record) = record else {
        return Err(format!(
            "no deployment record in {table} for '{}' (tried {})",
            args.target,
            candidate_ids(&args.target).join(", ")
        ));
    };
    let (bucket, prefix) = place_of(&record)?;
    let key = format!("{prefix}{}", args.rendering.file());
    let body = Objects::new(aws)
        .get(&bucket, &key)
        .await
        .map_err(|e| format!("{} ({})", e.message, e.error_type))?
        .ok_or_else(|| {
            format!(
                "s3://{bucket}/{key} does not exist (release notes are kept for PROD promotions and \
                 releases only; the record's email says whether the evidence was written)"
            )
        })?;
    String::from_utf8(body).map_err(|_| format!("s3://{bucket}/{key} is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_execution_arn_or_a_deployment_id_names_the_records_to_try() {
        let arn =
            "arn:aws:states:af-south-1:093646564004:execution:bbws-promote-prod:tim-prod-1a2b";
        assert_eq!(
            candidate_ids(arn),
            [
                "tim-prod-1a2b:succeeded",
                "tim-prod-1a2b:rolled_back",
                "tim-prod-1a2b:failed"
            ]
        );
        assert_eq!(
            candidate_ids("tim-prod-1a2b:failed"),
            ["tim-prod-1a2b:failed"]
        );
        assert_eq!(candidate_ids("tim-prod-1a2b").len(), 3);
    }

    #[test]
    fn a_record_without_evidence_says_so() {
        let old = json!({"deployment_id": "a:succeeded"});
        assert_eq!(
            place_of(old.as_object().expect("object")),
            Err("the record a:succeeded has no evidence field: it was written before evidence was kept".into())
        );
        let unset =
            json!({"deployment_id": "a:succeeded", "evidence": {"bucket": "-", "prefix": "p/"}});
        assert_eq!(
            place_of(unset.as_object().expect("object")),
            Err("the record a:succeeded's evidence names no bucket".into())
        );
        let good =
            json!({"deployment_id": "a:succeeded", "evidence": {"bucket": "b", "prefix": "p/"}});
        assert_eq!(
            place_of(good.as_object().expect("object")),
            Ok(("b".into(), "p/".into()))
        );
    }
}
