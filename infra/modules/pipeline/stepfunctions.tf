# bbws-promote-<env>: SIT and PROD only (DEV is promoted from nowhere). The definition is the
# repository's statemachine/promote.asl.json with the functions' ARNs filled in.

data "aws_iam_policy_document" "states_trust" {
  count = local.has_state_machine ? 1 : 0
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "states" {
  count              = local.has_state_machine ? 1 : 0
  name               = "bbws-promotion-states-${var.env}"
  description        = "Execution role of ${local.state_machine_name}"
  assume_role_policy = data.aws_iam_policy_document.states_trust[0].json
}

data "aws_iam_policy_document" "states" {
  count = local.has_state_machine ? 1 : 0
  statement {
    sid       = "InvokeThePipelineFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for arn in values(aws_lambda_function.function)[*].arn : [arn, "${arn}:*"]])
  }
  statement {
    sid       = "PublishEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn]
  }
  statement {
    sid       = "EncryptedEventsTopic"
    actions   = local.sns_key_actions
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.region}.amazonaws.com"]
    }
  }
  statement {
    #checkov:skip=CKV_AWS_111:CloudWatch Logs delivery for Step Functions has no resource-level permissions (AWS documents Resource "*" for these actions).
    #checkov:skip=CKV_AWS_356:Same as above.
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "states" {
  count  = local.has_state_machine ? 1 : 0
  name   = "least-privilege"
  role   = aws_iam_role.states[0].id
  policy = data.aws_iam_policy_document.states[0].json
}

resource "aws_cloudwatch_log_group" "states" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); the lasting record of each promotion is the deployments and approvals tables.
  count             = local.has_state_machine ? 1 : 0
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_sfn_state_machine" "promote" {
  #checkov:skip=CKV_AWS_285:Logging is on (level ALL) without execution data on purpose: the approval task's input holds its task token, which must never reach a log.
  #checkov:skip=CKV_AWS_284:The promotion's trail is the execution history, its logs and the deployments table; X-Ray adds nothing a reviewer reads.
  count    = local.has_state_machine ? 1 : 0
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.states[0].arn
  definition = templatefile("${local.statemachine_dir}/promote.asl.json", {
    env              = var.env
    source_env       = var.source_env
    preflight_arn    = aws_lambda_function.function["preflight"].arn
    backup_alias_arn = aws_lambda_function.function["backup-alias"].arn
    deploy_arn       = aws_lambda_function.function["deploy"].arn
    monitor_arn      = aws_lambda_function.function["monitor"].arn
    rollback_arn     = aws_lambda_function.function["rollback"].arn
    record_arn       = aws_lambda_function.function["record"].arn
    approval_arn     = aws_lambda_function.function["approval"].arn
    events_topic_arn = aws_sns_topic.events.arn
  })

  # Execution data stays out of the logs: the approval task's input carries its task token, and a
  # token in a log would let anyone who reads the logs answer the approval.
  logging_configuration {
    level                  = "ALL"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.states[0].arn}:*"
  }

  depends_on = [aws_iam_role_policy.states]
}
