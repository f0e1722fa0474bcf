# One role per function, each allowed only the calls that function makes, on the resources it makes
# them on. Names are deterministic (bbws-promotion-<function>-<env>): the source account's reader role
# trusts them by ARN.

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each             = local.functions
  name                 = local.function_names[each.key]
  description          = "Execution role of ${local.function_names[each.key]}"
  assume_role_policy   = data.aws_iam_policy_document.lambda_trust.json
  max_session_duration = 3600
}

locals {
  log_stream_arns = {
    for k, n in local.function_names : k => "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${n}:*"
  }
  # sts:AssumeRole into the source account's reader, for the functions that read the source's code,
  # metrics and gates (none in DEV, which has no source).
  reads_source = var.source_reader_role_arn == null ? [] : [var.source_reader_role_arn]
  # Publishing to a topic encrypted with the pipeline key needs the key, through SNS only.
  sns_key_actions = ["kms:GenerateDataKey", "kms:Decrypt"]
}

data "aws_iam_policy_document" "preflight" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.preflight]
  }
  dynamic "statement" {
    for_each = local.reads_source
    content {
      sid       = "ReadTheSourceAccount"
      actions   = ["sts:AssumeRole"]
      resources = [statement.value]
    }
  }
  statement {
    # What `latest-<env>` serves now, in every region the target is deployed to (PROD: eu-west-1 too).
    sid       = "ReadTargetAliases"
    actions   = ["lambda:GetAlias"]
    resources = local.all_region_service_arns
  }
}

data "aws_iam_policy_document" "backup_alias" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns["backup-alias"]]
  }
  statement {
    sid = "BackupAliasesOnTargetFunctions"
    # UpdateAlias: a retried step finds the backup alias it made and points it again.
    actions   = ["lambda:GetAlias", "lambda:CreateAlias", "lambda:UpdateAlias"]
    resources = local.all_region_service_arns
  }
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.deploy]
  }
  dynamic "statement" {
    for_each = local.reads_source
    content {
      sid       = "ReadTheSourceAccount"
      actions   = ["sts:AssumeRole"]
      resources = [statement.value]
    }
  }
  statement {
    # GetFunctionConfiguration: waits for the update to be Successful. PublishVersion: when
    # UpdateFunctionCode's Publish returns no version. CreateAlias: the first promotion into a function
    # that has no latest-<env> alias yet. GetFunction: after a revert, $LATEST gets the package of the
    # version the alias is back on.
    sid = "DeployTargetFunctions"
    actions = [
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode",
      "lambda:PublishVersion",
      "lambda:GetAlias",
      "lambda:UpdateAlias",
      "lambda:CreateAlias",
    ]
    resources = local.all_region_service_arns
  }
}

data "aws_iam_policy_document" "monitor" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.monitor]
  }
  statement {
    # `latest-<env>` answers /health in every region it is deployed to (PROD: eu-west-1 too).
    sid       = "HealthChecks"
    actions   = ["lambda:InvokeFunction"]
    resources = local.all_region_service_arns
  }
  statement {
    #checkov:skip=CKV_AWS_356:GetMetricStatistics and ListRules have no resource-level permissions, and DescribeAlarms with a name prefix is authorised on "*" (a narrower scope hides composite alarms).
    sid = "MetricsAlarmsAndRuleList"
    # The promoted functions' alarms that went to ALARM since the deploy also roll back (RB-003 §7.2
    # "CloudWatch alarms not triggered").
    actions   = ["cloudwatch:GetMetricStatistics", "cloudwatch:DescribeAlarms", "events:ListRules"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "rollback" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.rollback]
  }
  statement {
    sid = "RollBackTargetFunctions"
    # CreateAlias: the incident alias of the version a rollback replaces; InvokeFunction: the health
    # check of the version rolled back to.
    actions = [
      "lambda:ListVersionsByFunction",
      "lambda:GetAlias",
      "lambda:UpdateAlias",
      "lambda:CreateAlias",
      "lambda:ListAliases",
      "lambda:InvokeFunction",
      # $LATEST gets the package of the version the alias is back on (no version is published): read
      # it (GetFunction), upload it, wait for the update (GetFunctionConfiguration).
      "lambda:GetFunction",
      "lambda:UpdateFunctionCode",
      "lambda:GetFunctionConfiguration",
    ]
    resources = local.all_region_service_arns
  }
  statement {
    # The recorded deployments a rollback returns to, found by service (index service-timestamp).
    sid       = "ReadDeployments"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.deployments.arn}/index/*"]
  }
}

# Publishing to the events topic (encrypted with the pipeline key, which SNS uses on the publisher's behalf):
# the record's outcomes and the watch's failed checks.
data "aws_iam_policy_document" "publish_events" {
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
}

# Writing the evidence of an execution (the report in its three renderings and the facts it was built
# from) under this environment's prefix of the evidence bucket, encrypted with the pipeline key by S3.
data "aws_iam_policy_document" "write_evidence" {
  statement {
    sid       = "WriteEvidence"
    actions   = ["s3:PutObject"]
    resources = [local.evidence_objects]
  }
  statement {
    sid       = "EncryptedEvidence"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

# Reading the evidence back: the watch adds each check to the facts a report was built from, and the
# approval function serves the report behind the link in the completion email.
data "aws_iam_policy_document" "read_evidence" {
  statement {
    sid       = "ReadEvidence"
    actions   = ["s3:GetObject"]
    resources = [local.evidence_objects]
  }
  statement {
    sid       = "DecryptEvidence"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "record" {
  source_policy_documents = [data.aws_iam_policy_document.publish_events.json, data.aws_iam_policy_document.write_evidence.json]
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.record]
  }
  statement {
    # Records are written once (PutItem); a lock is taken (conditional PutItem), its holder read
    # (GetItem) and released (conditional DeleteItem).
    sid       = "DeploymentsAndLocks"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.deployments.arn, aws_dynamodb_table.locks.arn]
  }
  statement {
    # A lock whose holder no longer runs (stopped by hand) is taken over: the holder's status, only
    # of the executions of this account's pipeline state machines.
    sid       = "LockHolderStatus"
    actions   = ["states:DescribeExecution"]
    resources = [for n in local.state_machine_names : "arn:${local.partition}:states:${var.region}:${local.account_id}:execution:${n}:*"]
  }
  statement {
    # A deployment that succeeded starts its 24-hour watch (one execution, named after the deployment).
    sid       = "StartTheWatch"
    actions   = ["states:StartExecution"]
    resources = [local.watch_state_machine_arn]
  }
  statement {
    # The evidence of an execution: its own history (the states and their times) ...
    sid       = "OwnExecutionHistory"
    actions   = ["states:GetExecutionHistory"]
    resources = [for n in local.state_machine_names : "arn:${local.partition}:states:${var.region}:${local.account_id}:execution:${n}:*"]
  }
  statement {
    # ... and the approvals and audit items of its approval (who decided, when, from where).
    sid       = "ApprovalsOfTheExecution"
    actions   = ["dynamodb:Query"]
    resources = [aws_dynamodb_table.approvals.arn]
  }
  statement {
    # The completion email links to the report through the approval function's URL.
    sid       = "ApprovalUrl"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.parameters.approval_url}"]
  }
  statement {
    # Where each service of a release ended: the version its alias points to.
    sid       = "ReadReleasedFunctions"
    actions   = ["lambda:GetAlias"]
    resources = local.all_region_service_arns
  }
}

data "aws_iam_policy_document" "approval" {
  # The report a completion email links to (a record's link key opens it for 7 days).
  source_policy_documents = [data.aws_iam_policy_document.read_evidence.json]
  statement {
    sid       = "EvidenceLinks"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.deployments.arn]
  }
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.approval]
  }
  statement {
    sid       = "Approvals"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.approvals.arn]
  }
  statement {
    # The approvers' emails go to the approvals topic; "approval requested" / "decided" events to the
    # platform team's events topic.
    sid       = "PublishApprovalRequestsAndEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.approvals.arn, aws_sns_topic.events.arn]
  }
  statement {
    # A callback token is authorised against the state machine that issued it (promote and release
    # where they exist, rollback everywhere). The ARNs are built from the names, not read from the
    # resources: the state machines depend on this function.
    sid       = "AnswerApprovalTasks"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure"]
    resources = local.state_machine_arns
  }
  statement {
    # Built from the names: the approval-url parameter is written from the function's URL.
    sid       = "OwnParameters"
    actions   = ["ssm:GetParameter"]
    resources = [for p in values(local.parameters) : "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${p}"]
  }
  statement {
    sid       = "DecryptTheSigningKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${var.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "EncryptedApprovalsTopic"
    actions   = local.sns_key_actions
    resources = [aws_kms_key.pipeline.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "watch" {
  source_policy_documents = [
    data.aws_iam_policy_document.publish_events.json,
    data.aws_iam_policy_document.read_evidence.json,
    data.aws_iam_policy_document.write_evidence.json,
  ]
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.watch]
  }
  statement {
    # The record watched (GetItem) and each check kept on it (a conditional UpdateItem of `checks`).
    sid       = "ReadAndAnnotateDeployments"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.deployments.arn]
  }
  statement {
    # What latest-<env> serves now, and its /health, in every region the service runs in.
    sid       = "WatchedFunctions"
    actions   = ["lambda:GetAlias", "lambda:InvokeFunction"]
    resources = local.all_region_service_arns
  }
  statement {
    #checkov:skip=CKV_AWS_356:GetMetricStatistics has no resource-level permissions, and DescribeAlarms with a name prefix is authorised on "*" (a narrower scope hides composite alarms).
    sid       = "MetricsAndAlarms"
    actions   = ["cloudwatch:GetMetricStatistics", "cloudwatch:DescribeAlarms"]
    resources = ["*"]
  }
  statement {
    # A newer deployment's watch ends the older running watches of the same service.
    sid       = "EndOlderWatches"
    actions   = ["states:ListExecutions"]
    resources = [local.watch_state_machine_arn]
  }
  statement {
    sid       = "StopOlderWatches"
    actions   = ["states:StopExecution"]
    resources = ["arn:${local.partition}:states:${var.region}:${local.account_id}:execution:${local.watch_state_machine_name}:*"]
  }
}

data "aws_iam_policy_document" "tenant" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns.tenant]
  }
  statement {
    # Each tenant's history: its records by the service-timestamp index (service "tenant:<id>").
    sid       = "TenantRecords"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.deployments.arn}/index/service-timestamp"]
  }
  dynamic "statement" {
    # PROD: SIT's tenant records, through SIT's reader role.
    for_each = var.env == "prod" ? local.reads_source : []
    content {
      sid       = "ReadTheSourceAccount"
      actions   = ["sts:AssumeRole"]
      resources = [statement.value]
    }
  }
  statement {
    # The plan builds' artifacts of this environment's executions (plan-summary.json, plan.json).
    sid       = "ReadPlans"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.tenant_plans_bucket}/${local.tenant_plans_prefix}*"]
  }
  statement {
    # The plans are encrypted with the tenant build's key: decrypted through S3 only.
    sid       = "DecryptPlansThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.tenant_build.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
  statement {
    # RB-003 §3.2.4 step 7: the tenants' services in this environment's cluster.
    sid       = "DescribeTenantServices"
    actions   = ["ecs:DescribeServices"]
    resources = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:service/bbws-cluster-${var.env}/*"]
  }
}

locals {
  own_policies = {
    preflight      = data.aws_iam_policy_document.preflight.json
    "backup-alias" = data.aws_iam_policy_document.backup_alias.json
    deploy         = data.aws_iam_policy_document.deploy.json
    monitor        = data.aws_iam_policy_document.monitor.json
    rollback       = data.aws_iam_policy_document.rollback.json
    record         = data.aws_iam_policy_document.record.json
    approval       = data.aws_iam_policy_document.approval.json
    watch          = data.aws_iam_policy_document.watch.json
    tenant         = data.aws_iam_policy_document.tenant.json
  }
  function_policies = {
    for k, doc in local.own_policies : k => contains(local.config_readers, k) ? data.aws_iam_policy_document.with_rules[k].minified_json : doc
  }
}

# The functions that apply the promotion rules may read them too (config.tf).
data "aws_iam_policy_document" "with_rules" {
  for_each                = local.config_readers
  source_policy_documents = [local.own_policies[each.key], data.aws_iam_policy_document.read_config.json]
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = local.function_policies[each.key]

  lifecycle {
    precondition {
      # IAM's quota: a role's inline policies hold 10,240 characters, white space not counted. The
      # roles name each service function of the catalog (and its versions, in every region).
      condition     = length(replace(local.function_policies[each.key], "/\\s/", "")) <= 10240
      error_message = "The policy of ${local.function_names[each.key]} takes ${length(replace(local.function_policies[each.key], "/\\s/", ""))} characters; IAM allows a role 10,240 of inline policies. The catalog names ${length(local.service_function_names)} service functions in ${length(local.target_regions)} region(s)."
    }
  }
}
