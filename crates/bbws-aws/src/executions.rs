//! Step Functions executions started, listed, stopped and read by the pipeline itself: the 24-hour watch
//! of a deployment (started by the record, ended by a newer watch of the same service), and the history
//! an execution's evidence is built from.

use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::types::ExecutionStatus;

use bbws_domain::evidence::StateEvent;

use crate::error::BbwsError;

/// An execution started, or found already started under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Its ARN.
    pub execution_arn: String,
    /// Whether an execution of that name existed already (a retried step): StartExecution is
    /// idempotent by name while it runs with the same input, and refuses the name afterwards.
    pub already: bool,
}

/// The ARN an execution named `name` of `state_machine_arn` has.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Starts `name` of `state_machine_arn` with `input` (a JSON document).
pub async fn start(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    name: &str,
    input: &str,
) -> Result<Started, BbwsError> {
    match sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input)
        .send()
        .await
    {
        Ok(out) => Ok(Started {
            execution_arn: out.execution_arn().to_owned(),
            already: false,
        }),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(StartExecutionError::ExecutionAlreadyExists(_))
            ) =>
        {
            Ok(Started {
                execution_arn: execution_arn(state_machine_arn, name),
                already: true,
            })
        }
        Err(e) => Err(BbwsError::aws(
            format!("StartExecution {state_machine_arn} {name}"),
            e,
        )),
    }
}

/// The running executions of `state_machine_arn`, as (name, ARN), all pages.
pub async fn running(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
) -> Result<Vec<(String, String)>, BbwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = sfn
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .status_filter(ExecutionStatus::Running)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("ListExecutions {state_machine_arn}"), e))?;
        out.extend(
            page.executions()
                .iter()
                .map(|e| (e.name().to_owned(), e.execution_arn().to_owned())),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// The states `execution_arn` entered and exited so far, in order, with their times and the
/// exits' outputs (all pages; the evidence of an execution).
pub async fn history(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<Vec<StateEvent>, BbwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .include_execution_data(true)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("GetExecutionHistory {execution_arn}"), e))?;
        for e in page.events() {
            let t = e.timestamp();
            let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()) else {
                continue;
            };
            if let Some(d) = e.state_entered_event_details() {
                out.push(StateEvent {
                    entered: true,
                    state: d.name().to_owned(),
                    at,
                    output: None,
                });
            } else if let Some(d) = e.state_exited_event_details() {
                out.push(StateEvent {
                    entered: false,
                    state: d.name().to_owned(),
                    at,
                    output: d.output().and_then(|o| serde_json::from_str(o).ok()),
                });
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Stops `execution_arn` with `error` and `cause`.
pub async fn stop(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    error: &str,
    cause: &str,
) -> Result<(), BbwsError> {
    sfn.stop_execution()
        .execution_arn(execution_arn)
        .error(error)
        .cause(cause)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("StopExecution {execution_arn}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_arn_is_built_from_its_machine_and_name() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:af-south-1:815856636111:stateMachine:bbws-watch-sit",
                "site-management--20261203T064000-0a1b2c3d"
            ),
            "arn:aws:states:af-south-1:815856636111:execution:bbws-watch-sit:site-management--20261203T064000-0a1b2c3d"
        );
    }
}
