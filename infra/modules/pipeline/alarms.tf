# CloudWatch alarms and the environment's dashboard (RB-003 §2.3 "Monitoring dashboards accessible",
# §4.4 and §7.2 "CloudWatch alarms not triggered": `describe-alarms --alarm-name-prefix bbws-`).
#
# Per service function, in every region it runs in (PROD: eu-west-1 too), on its latest-<env> alias:
#   bbws-<function>-errors     AWS/Lambda Errors    (FunctionName + Resource <function>:latest-<env>)
#   bbws-<function>-throttles  AWS/Lambda Throttles (same dimensions)
# with the monitor's rollback triggers as thresholds (monitor.triggers of the promotion configuration:
# the sum over lookback_seconds may not exceed `at_most`, or must stay below `fewer_than`), and per
# state machine of the pipeline:
#   bbws-<machine>-executions-failed   AWS/States ExecutionsFailed (StateMachineArn), any failure.
# A function name that already starts with "bbws-" is not prefixed twice (bbws-tenant-instance-
# management-prod-errors, bbws-prod-bbws-sites-service-errors, bbws-promote-prod-executions-failed).
# Every alarm notifies the events topic of its own region when it goes to ALARM and when it returns to
# OK; missing data (no invocation, no execution) counts as none, as the monitor counts it.

locals {
  triggers = jsondecode(local.catalog_config).monitor.triggers

  # The configuration's limits as CloudWatch comparisons: the alarm fires when the limit is broken.
  alarm_limits = {
    for kind, metric in { errors = "Errors", throttles = "Throttles" } : kind => {
      metric                     = metric
      operator                   = can(local.triggers[kind].at_most) ? "GreaterThanThreshold" : "GreaterThanOrEqualToThreshold"
      threshold                  = can(local.triggers[kind].at_most) ? local.triggers[kind].at_most : local.triggers[kind].fewer_than
      words                      = can(local.triggers[kind].at_most) ? "more than ${local.triggers[kind].at_most}" : "${local.triggers[kind].fewer_than} or more"
    }
  }
  alarm_period = local.triggers.lookback_seconds
  alias_name   = "latest-${var.env}"

  # (function, kind) -> the alarm, the same in every region the function runs in.
  function_alarms = {
    for pair in setproduct(local.service_function_names, keys(local.alarm_limits)) :
    "${pair[0]}/${pair[1]}" => {
      name      = "bbws-${trimprefix(pair[0], "bbws-")}-${pair[1]}"
      function  = pair[0]
      kind      = pair[1]
      metric    = local.alarm_limits[pair[1]].metric
      operator  = local.alarm_limits[pair[1]].operator
      threshold = local.alarm_limits[pair[1]].threshold
      words     = local.alarm_limits[pair[1]].words
    }
  }

  state_machine_alarms = {
    for i, name in local.all_state_machine_names : name => {
      name = "bbws-${trimprefix(name, "bbws-")}-executions-failed"
      arn  = local.all_state_machine_arns[i]
    }
  }

  # CloudWatch accepts periods of 10, 20 and 30 seconds (high-resolution metrics only) or multiples
  # of 60; Lambda's metrics have one-minute resolution.
  alarm_period_valid = local.alarm_period >= 60 && local.alarm_period % 60 == 0
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = local.function_alarms

  alarm_name        = each.value.name
  alarm_description = "${each.value.metric} of ${each.value.function}:${local.alias_name} (${var.region}): ${each.value.words} in ${local.alarm_period} s is the monitor's rollback trigger (RB-003 §6.3.1, monitor.triggers). See RB-003 §6 for the rollback."
  namespace         = "AWS/Lambda"
  metric_name       = each.value.metric
  dimensions = {
    FunctionName = each.value.function
    Resource     = "${each.value.function}:${local.alias_name}"
  }
  statistic           = "Sum"
  period              = local.alarm_period
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.events.arn]
  ok_actions          = [aws_sns_topic.events.arn]

  lifecycle {
    precondition {
      condition     = local.alarm_period_valid
      error_message = "monitor.triggers.lookback_seconds (${local.alarm_period}) must be a multiple of 60 to be an alarm period on Lambda's one-minute metrics."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "state_machine" {
  for_each = local.state_machine_alarms

  alarm_name        = each.value.name
  alarm_description = "Executions of ${each.key} that failed (a refusal, a rollback or an error) in ${local.alarm_period} s. The execution history says why: aws stepfunctions list-executions --state-machine-arn ${each.value.arn} --status-filter FAILED"
  namespace         = "AWS/States"
  metric_name       = "ExecutionsFailed"
  dimensions = {
    StateMachineArn = each.value.arn
  }
  statistic           = "Sum"
  period              = local.alarm_period
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.events.arn]
  ok_actions          = [aws_sns_topic.events.arn]

  lifecycle {
    precondition {
      condition     = local.alarm_period_valid
      error_message = "monitor.triggers.lookback_seconds (${local.alarm_period}) must be a multiple of 60 to be an alarm period."
    }
  }
}

# ---------------------------------------------------------------------------------------------------
# The failover region (PROD: eu-west-1): the same function alarms, notifying a topic there (an alarm's
# actions must be in its own region), encrypted with a key of that region.
# ---------------------------------------------------------------------------------------------------

locals {
  failover_function_alarms = var.failover_region == null ? {} : local.function_alarms
}

data "aws_iam_policy_document" "failover_key" {
  count = var.failover_region == null ? 0 : 1
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key only; the first statement is AWS's default key policy, which leaves the key's use to IAM policies.
  #checkov:skip=CKV_AWS_111:Same: "*" in a key policy is this key; CloudWatch's statement is bound to this account's bbws- alarms.
  #checkov:skip=CKV_AWS_356:Same: "*" in a key policy is this key.
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheEventsTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${var.failover_region}:${local.account_id}:alarm:bbws-*"]
    }
  }
}

resource "aws_kms_key" "failover" {
  count                   = var.failover_region == null ? 0 : 1
  provider                = aws.failover
  description             = "BBWS promotion (${var.env}): the alarm topic of the failover region ${var.failover_region}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.failover_key[0].json
}

resource "aws_kms_alias" "failover" {
  count         = var.failover_region == null ? 0 : 1
  provider      = aws.failover
  name          = "alias/bbws-promotion-${var.env}"
  target_key_id = aws_kms_key.failover[0].key_id
}

resource "aws_sns_topic" "failover_events" {
  count             = var.failover_region == null ? 0 : 1
  provider          = aws.failover
  name              = "bbws-promotion-events-${var.env}"
  kms_master_key_id = aws_kms_key.failover[0].arn
}

resource "aws_sns_topic_subscription" "failover_events" {
  for_each  = var.failover_region == null ? toset([]) : toset(var.notification_emails)
  provider  = aws.failover
  topic_arn = aws_sns_topic.failover_events[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "function_failover" {
  for_each = local.failover_function_alarms
  provider = aws.failover

  alarm_name        = each.value.name
  alarm_description = "${each.value.metric} of ${each.value.function}:${local.alias_name} (${var.failover_region}): ${each.value.words} in ${local.alarm_period} s is the monitor's rollback trigger (RB-003 §6.3.1, monitor.triggers). See RB-003 §6 for the rollback."
  namespace         = "AWS/Lambda"
  metric_name       = each.value.metric
  dimensions = {
    FunctionName = each.value.function
    Resource     = "${each.value.function}:${local.alias_name}"
  }
  statistic           = "Sum"
  period              = local.alarm_period
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.failover_events[0].arn]
  ok_actions          = [aws_sns_topic.failover_events[0].arn]

  lifecycle {
    precondition {
      condition     = local.alarm_period_valid
      error_message = "monitor.triggers.lookback_seconds (${local.alarm_period}) must be a multiple of 60 to be an alarm period on Lambda's one-minute metrics."
    }
  }
}
