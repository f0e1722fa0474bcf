output "account_id" {
  description = "The account the pipeline is in."
  value       = local.account_id
}

output "state_machine_arn" {
  description = "bbws-promote-<env> (null in DEV, which has no source to promote from)."
  value       = local.has_state_machine ? aws_sfn_state_machine.promote[0].arn : null
}

output "rollback_state_machine_arn" {
  description = "bbws-rollback-<env> (every environment)."
  value       = aws_sfn_state_machine.rollback.arn
}

output "watch_state_machine_arn" {
  description = "bbws-watch-<env> (every environment): the 24-hour watch of each deployment."
  value       = aws_sfn_state_machine.watch.arn
}

output "release_state_machine_arn" {
  description = "bbws-release-<env> (null in DEV, which has no promote machine to run)."
  value       = local.has_state_machine ? aws_sfn_state_machine.release[0].arn : null
}

output "function_arns" {
  description = "The eight functions, by key (preflight, backup-alias, deploy, monitor, rollback, record, approval, watch)."
  value       = { for k, f in aws_lambda_function.function : k => f.arn }
}

output "role_arns" {
  description = "The functions' execution roles, by the same keys; states = the state machines' role."
  value = merge(
    { for k, r in aws_iam_role.function : k => r.arn },
    { states = aws_iam_role.states.arn },
  )
}

output "table_names" {
  description = "deployments, locks, approvals and gates (quality gates) table names."
  value = {
    deployments = aws_dynamodb_table.deployments.name
    locks       = aws_dynamodb_table.locks.name
    approvals   = aws_dynamodb_table.approvals.name
    gates       = aws_dynamodb_table.quality_gates.name
  }
}

output "events_topic_arn" {
  description = "bbws-promotion-events-<env>."
  value       = aws_sns_topic.events.arn
}

output "approval_topic_arn" {
  description = "bbws-promotion-approvals-<env>."
  value       = aws_sns_topic.approvals.arn
}

output "approval_url" {
  description = "The approval function's URL (also in SSM at /bbws/promotion/<env>/approval-url)."
  value       = aws_lambda_function_url.approval.function_url
}

output "kms_key_arn" {
  description = "The pipeline key (alias/bbws-promotion-<env>)."
  value       = aws_kms_key.pipeline.arn
}

output "service_function_names" {
  description = "The service functions this pipeline acts on in its account (RB-003 §1.4, or the configured catalog)."
  value       = local.service_function_names
}

output "parameter_names" {
  description = "The SSM parameters the approval function reads."
  value       = local.parameters
}

output "table_arns" {
  description = "The same tables' ARNs."
  value = {
    deployments = aws_dynamodb_table.deployments.arn
    locks       = aws_dynamodb_table.locks.arn
    approvals   = aws_dynamodb_table.approvals.arn
    gates       = aws_dynamodb_table.quality_gates.arn
  }
}

output "alarm_names" {
  description = "The bbws- alarms by region: each service function's errors and throttles (every region it runs in) and, in the primary region, each state machine's failed executions."
  value = merge(
    {
      (var.region) = sort(concat(
        [for a in aws_cloudwatch_metric_alarm.function : a.alarm_name],
        [for a in aws_cloudwatch_metric_alarm.state_machine : a.alarm_name],
      ))
    },
    var.failover_region == null ? {} : {
      (var.failover_region) = sort([for a in aws_cloudwatch_metric_alarm.function_failover : a.alarm_name])
    },
  )
}

output "alarm_topic_arns" {
  description = "The topic each region's alarms notify: the events topic, and in PROD its namesake in the failover region."
  value = merge(
    { (var.region) = aws_sns_topic.events.arn },
    var.failover_region == null ? {} : { (var.failover_region) = aws_sns_topic.failover_events[0].arn },
  )
}

output "dashboard_name" {
  description = "bbws-<env>, the environment's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.environment.dashboard_name
}

output "evidence_bucket" {
  description = "bbws-promotion-evidence-<account-id>: the reports of every execution, under evidence/<env>/<service>/<execution>/."
  value       = aws_s3_bucket.evidence.bucket
}

output "auditor_role_arn" {
  description = "bbws-promotion-auditor-<env>: read-only access to the records, the evidence and the execution history."
  value       = aws_iam_role.auditor.arn
}

output "tenant_build_project_name" {
  description = "bbws-tenant-build-<env>: the CodeBuild project that plans and applies tenants' Terraform."
  value       = aws_codebuild_project.tenant_build.name
}

output "tenant_build_project_arn" {
  description = "The tenant build project's ARN (codebuild:StartBuild, BatchGetBuilds, StopBuild)."
  value       = aws_codebuild_project.tenant_build.arn
}

output "tenant_build_role_arn" {
  description = "bbws-tenant-build-<env>: the tenant build's service role."
  value       = aws_iam_role.tenant_build.arn
}

output "tenant_build_log_group" {
  description = "/aws/codebuild/bbws-tenant-build-<env>: the builds' logs."
  value       = aws_cloudwatch_log_group.tenant_build.name
}

output "tenant_artifacts_bucket" {
  description = "bbws-tenant-plans-<account-id>: each build's plans under tenant/<env>/<run>/<tenant_id>/ (tfplan, plan.json, plan-summary.json)."
  value       = aws_s3_bucket.tenant_plans.id
}

output "tenant_artifacts_bucket_arn" {
  description = "The plans bucket's ARN."
  value       = aws_s3_bucket.tenant_plans.arn
}

output "tenant_state_bucket" {
  description = "bbws-tenant-state-<account-id>: the tenants' Terraform state (tenants/<tenant_id>/terraform.tfstate)."
  value       = aws_s3_bucket.tenant_state.id
}

output "tenant_lock_table" {
  description = "bbws-tenant-locks-<env>: the tenants' state locks."
  value       = aws_dynamodb_table.tenant_locks.name
}

output "tenant_build_kms_key_arn" {
  description = "The tenant build's key (alias/bbws-tenant-build-<env>): the states, the lock table, the plans and the build logs. Reading a plan needs kms:Decrypt on it through S3."
  value       = aws_kms_key.tenant_build.arn
}

output "tenants_repository_url" {
  description = "The repository the tenant build checks out (the project's GITHUB source)."
  value       = aws_codebuild_project.tenant_build.source[0].location
}
