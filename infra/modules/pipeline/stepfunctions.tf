# bbws-promote-<env>: SIT and PROD only (DEV is promoted from nowhere). bbws-rollback-<env> and
# bbws-watch-<env> (the 24-hour watch of each deployment, RB-003 §7.2): every account. bbws-release-<env>: SIT and PROD, a release of several services, each promoted by a child
# execution of bbws-promote-<env> (states:startExecution.sync:2). The definitions are the repository's
# statemachine/promote.asl.json, rollback.asl.json and release.asl.json with the functions' and the
# promote machine's ARNs filled in; all machines run as one role, bbws-promotion-states-<env>.

locals {
  # The variables of every definition (templatefile fails on a placeholder missing from them).
  state_machine_template_vars = {
    env              = var.env
    source_env       = var.source_env
    preflight_arn    = aws_lambda_function.function["preflight"].arn
    backup_alias_arn = aws_lambda_function.function["backup-alias"].arn
    deploy_arn       = aws_lambda_function.function["deploy"].arn
    monitor_arn      = aws_lambda_function.function["monitor"].arn
    rollback_arn     = aws_lambda_function.function["rollback"].arn
    record_arn       = aws_lambda_function.function["record"].arn
    approval_arn     = aws_lambda_function.function["approval"].arn
    watch_arn        = aws_lambda_function.function["watch"].arn
    tenant_arn       = aws_lambda_function.function["tenant"].arn
    # The watch starts the rollback a failed check calls for, where the configuration says so.
    rollback_state_machine_arn = local.rollback_state_machine_arn
    # Built from the name: the release machine starts executions of the promote machine. DEV has no
    # promote machine; its definitions do not use this (the ARN is what the machine's would be).
    promote_state_machine_arn = local.state_machine_arn
    # The Retry policy of every Lambda Task, written once (statemachine/lambda-retry.json): AWS's transient
    # Lambda errors and Bbws.AwsUnavailable with backoff and full jitter; a process that died before it
    # answered (its work may be done: every step is safe to run twice) once more.
    lambda_retry = jsonencode(jsondecode(file("${local.statemachine_dir}/lambda-retry.json")))
  }

  # The states every definition shares (statemachine/shared-states.json: a refusal's words read from its
  # cause and the Fail state that ends with them; a record error read as caught or in words), written once
  # and rendered into each definition as `${shared_states}` with that machine's names for the states they
  # lead to (statemachine/shared-states.vars.json).
  shared_state_names = jsondecode(file("${local.statemachine_dir}/shared-states.vars.json"))
  shared_states = {
    for machine, names in local.shared_state_names : machine => join(",", [
      for name, state in jsondecode(templatefile("${local.statemachine_dir}/shared-states.json", names)) :
      "${jsonencode(name)}:${jsonencode(state)}"
    ])
  }
  # A tenant execution's plan, review, apply and verification states (statemachine/tenant-states.json),
  # written once for bbws-tenant-<env> and a release's phase 4, with each machine's names for the states
  # they lead to (statemachine/tenant-states.vars.json).
  tenant_state_names = jsondecode(file("${local.statemachine_dir}/tenant-states.vars.json"))
  tenant_states = {
    for machine, names in local.tenant_state_names : machine => join(",", [
      for name, state in jsondecode(templatefile("${local.statemachine_dir}/tenant-states.json", merge(local.state_machine_template_vars, names))) :
      "${jsonencode(name)}:${jsonencode(state)}"
    ])
  }
  definition_vars = {
    for machine in keys(local.shared_state_names) :
    machine => merge(local.state_machine_template_vars, {
      shared_states = local.shared_states[machine]
      tenant_states = lookup(local.tenant_states, machine, "")
    })
  }

  # Where bbws-release-<env> exists, the state machine whose executions it starts (none in DEV).
  child_state_machines = local.has_state_machine ? [local.state_machine_name] : []
}

data "aws_iam_policy_document" "states_trust" {
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
  name               = "bbws-promotion-states-${var.env}"
  description        = "Execution role of ${join(", ", local.state_machine_names)}"
  assume_role_policy = data.aws_iam_policy_document.states_trust.json
}

# State written while the role was counted (SIT and PROD only) keeps its role and policy: no replacement.
moved {
  from = aws_iam_role.states[0]
  to   = aws_iam_role.states
}

data "aws_iam_policy_document" "states" {
  statement {
    sid       = "InvokeThePipelineFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for arn in values(aws_lambda_function.function)[*].arn : [arn, "${arn}:*"]])
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
  # bbws-release-<env> runs bbws-promote-<env> with states:startExecution.sync:2: it starts the child
  # execution, follows and, if the release is stopped, stops it, and learns of its end through the
  # rule Step Functions manages for this (AWS's documented permissions for the integration).
  statement {
    # bbws-watch-<env> starts bbws-rollback-<env> after a failed check where watch.automatic_rollback
    # lists the environment (states:startExecution, no wait).
    sid       = "StartRollbacksFromTheWatch"
    actions   = ["states:StartExecution"]
    resources = [local.rollback_state_machine_arn]
  }
  dynamic "statement" {
    for_each = local.child_state_machines
    content {
      sid       = "StartPromotions"
      actions   = ["states:StartExecution"]
      resources = ["arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${statement.value}"]
    }
  }
  dynamic "statement" {
    for_each = local.child_state_machines
    content {
      sid       = "FollowAndStopPromotions"
      actions   = ["states:DescribeExecution", "states:StopExecution"]
      resources = ["arn:${local.partition}:states:${var.region}:${local.account_id}:execution:${statement.value}:*"]
    }
  }
  # bbws-tenant-<env> runs the tenant build with codebuild:startBuild.sync: it starts the build,
  # follows it, stops it when the execution stops, and learns of its end through the rule Step
  # Functions manages for this (AWS's documented permissions for the integration).
  statement {
    sid       = "RunTenantBuilds"
    actions   = ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"]
    resources = [local.tenant_build_arn]
  }
  statement {
    sid       = "TenantBuildEvents"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${var.region}:${local.account_id}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule"]
  }
  dynamic "statement" {
    for_each = local.child_state_machines
    content {
      sid       = "ChildExecutionEvents"
      actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
      resources = ["arn:${local.partition}:events:${var.region}:${local.account_id}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"]
    }
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "least-privilege"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

moved {
  from = aws_iam_role_policy.states[0]
  to   = aws_iam_role_policy.states
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
  count      = local.has_state_machine ? 1 : 0
  name       = local.state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.states.arn
  definition = templatefile("${local.statemachine_dir}/promote.asl.json", local.definition_vars["promote"])

  # Execution data stays out of the logs: the approval task's input carries its task token, and a
  # token in a log would let anyone who reads the logs answer the approval.
  logging_configuration {
    level                  = "ALL"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.states[0].arn}:*"
  }

  depends_on = [aws_iam_role_policy.states]
}

resource "aws_cloudwatch_log_group" "rollback" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); the lasting record of each rollback is the deployments table.
  name              = "/aws/vendedlogs/states/${local.rollback_state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_sfn_state_machine" "rollback" {
  #checkov:skip=CKV_AWS_285:Logging is on (level ALL) without execution data on purpose: an approval task's input holds its task token, which must never reach a log.
  #checkov:skip=CKV_AWS_284:The rollback's trail is the execution history, its logs and the deployments table; X-Ray adds nothing a reviewer reads.
  name       = local.rollback_state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.states.arn
  definition = templatefile("${local.statemachine_dir}/rollback.asl.json", local.definition_vars["rollback"])

  # Execution data stays out of the logs, as for the promotion: an approval task's input carries its
  # task token, and a token in a log would let anyone who reads the logs answer the approval.
  logging_configuration {
    level                  = "ALL"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.rollback.arn}:*"
  }

  depends_on = [aws_iam_role_policy.states]
}

resource "aws_cloudwatch_log_group" "release" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); the lasting record of each release is the deployments table.
  count             = local.has_state_machine ? 1 : 0
  name              = "/aws/vendedlogs/states/${local.release_state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_sfn_state_machine" "release" {
  #checkov:skip=CKV_AWS_285:Logging is on (level ALL) without execution data on purpose: an approval task's input holds its task token, which must never reach a log.
  #checkov:skip=CKV_AWS_284:The release's trail is its execution history with its child promotions, its logs and the deployments table; X-Ray adds nothing a reviewer reads.
  count      = local.has_state_machine ? 1 : 0
  name       = local.release_state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.states.arn
  definition = templatefile("${local.statemachine_dir}/release.asl.json", local.definition_vars["release"])

  # Execution data stays out of the logs, as for the promotion: an approval task's input carries its
  # task token, and a token in a log would let anyone who reads the logs answer the approval.
  logging_configuration {
    level                  = "ALL"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.release[0].arn}:*"
  }

  depends_on = [aws_iam_role_policy.states]
}

resource "aws_cloudwatch_log_group" "watch" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); the lasting record of each check is the deployment record's `checks`.
  name              = "/aws/vendedlogs/states/${local.watch_state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_sfn_state_machine" "watch" {
  #checkov:skip=CKV_AWS_284:The watch's trail is the execution history and the checks on the deployment record; X-Ray adds nothing a reviewer reads.
  name       = local.watch_state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.states.arn
  definition = templatefile("${local.statemachine_dir}/watch.asl.json", local.state_machine_template_vars)

  # The watch carries no token: its execution data may be logged.
  logging_configuration {
    level                  = "ALL"
    include_execution_data = true
    log_destination        = "${aws_cloudwatch_log_group.watch.arn}:*"
  }

  depends_on = [aws_iam_role_policy.states]
}

resource "aws_cloudwatch_log_group" "tenant" {
  #checkov:skip=CKV_AWS_338:90 days by decision (log_retention_days); the lasting record of each tenant execution is the deployments table and the plans kept in the artifacts bucket.
  name              = "/aws/vendedlogs/states/${local.tenant_state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_sfn_state_machine" "tenant" {
  #checkov:skip=CKV_AWS_285:Logging is on (level ALL) without execution data on purpose: an approval task's input holds its task token, which must never reach a log.
  #checkov:skip=CKV_AWS_284:The tenant execution's trail is its history, its builds' logs, the plans kept and the deployments table; X-Ray adds nothing a reviewer reads.
  name       = local.tenant_state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.states.arn
  definition = templatefile("${local.statemachine_dir}/tenant.asl.json", local.definition_vars["tenant"])

  logging_configuration {
    level                  = "ALL"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.tenant.arn}:*"
  }

  depends_on = [aws_iam_role_policy.states]
}
