//! CloudWatch sums of AWS/Lambda metrics.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_cloudwatch::Client;

use crate::error::BbwsError;

/// The Sum of `metric` over the last `lookback` with exactly these dimensions; `None` when
/// CloudWatch has no datapoints (which RB-003's scripts read as zero).
pub async fn sum(
    client: &Client,
    metric: &str,
    dimensions: &[(&str, &str)],
    lookback: Duration,
) -> Result<Option<f64>, BbwsError> {
    let end = SystemTime::now();
    let start = end - lookback;
    let period = i32::try_from(lookback.as_secs().max(60)).unwrap_or(i32::MAX);
    let dims: Vec<Dimension> = dimensions
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
        .collect();
    let what = dimensions
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let out = client
        .get_metric_statistics()
        .namespace("AWS/Lambda")
        .metric_name(metric)
        .set_dimensions(Some(dims))
        .start_time(DateTime::from(start))
        .end_time(DateTime::from(end))
        .period(period)
        .statistics(Statistic::Sum)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("GetMetricStatistics {metric} {what}"), e))?;
    let points = out.datapoints();
    if points.is_empty() {
        return Ok(None);
    }
    Ok(Some(points.iter().filter_map(|p| p.sum()).sum()))
}

/// The metric alarms whose names start with `prefix` and that are in ALARM now (RB-003 §4.4:
/// `describe-alarms --alarm-name-prefix bbws- --state-value ALARM`), all pages: each name with
/// when it went to ALARM (Unix seconds; 0 when CloudWatch does not say).
pub async fn alarms_in_alarm(
    client: &Client,
    prefix: &str,
) -> Result<Vec<(String, i64)>, BbwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| BbwsError::aws(format!("DescribeAlarms {prefix}* in ALARM"), e))?;
        out.extend(page.metric_alarms().iter().filter_map(|a| {
            let since = a.state_updated_timestamp().map_or(0, |t| t.secs());
            a.alarm_name().map(|n| (n.to_owned(), since))
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}
