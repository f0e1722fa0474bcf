output "account_id" {
  description = "The account applied to."
  value       = module.pipeline.account_id
}

output "state_machine_arn" {
  description = "bbws-promote-dev (null: DEV has no source)."
  value       = module.pipeline.state_machine_arn
}

output "rollback_state_machine_arn" {
  description = "bbws-rollback-dev."
  value       = module.pipeline.rollback_state_machine_arn
}

output "watch_state_machine_arn" {
  description = "bbws-watch-dev: the 24-hour watch of each deployment (RB-003 §7.2)."
  value       = module.pipeline.watch_state_machine_arn
}

output "release_state_machine_arn" {
  description = "bbws-release-dev (null: DEV has no source)."
  value       = module.pipeline.release_state_machine_arn
}

output "function_arns" {
  description = "The eight pipeline functions by key."
  value       = module.pipeline.function_arns
}

output "role_arns" {
  description = "Their execution roles (and the state machines', as states)."
  value       = module.pipeline.role_arns
}

output "table_names" {
  description = "deployments, locks, approvals and gates tables."
  value       = module.pipeline.table_names
}

output "events_topic_arn" {
  description = "Promotion events topic."
  value       = module.pipeline.events_topic_arn
}

output "approval_topic_arn" {
  description = "Approval requests topic."
  value       = module.pipeline.approval_topic_arn
}

output "approval_url" {
  description = "The approval function's URL."
  value       = module.pipeline.approval_url
}

output "kms_key_arn" {
  description = "The pipeline key."
  value       = module.pipeline.kms_key_arn
}

output "reader_role_arn" {
  description = "The role in DEV that SIT's pipeline reads through."
  value       = module.source_reader.role_arn
}

output "github_actions_role_arn" {
  description = "bbws-github-actions-role-<env>: role-to-assume of the workflows."
  value       = module.github_oidc.role_arn
}

output "alarm_names" {
  description = "The bbws- alarms by region (service functions' errors and throttles, the state machines' failed executions)."
  value       = module.pipeline.alarm_names
}

output "alarm_topic_arns" {
  description = "The topic each region's alarms notify."
  value       = module.pipeline.alarm_topic_arns
}

output "dashboard_name" {
  description = "The environment's CloudWatch dashboard."
  value       = module.pipeline.dashboard_name
}

output "evidence_bucket" {
  description = "The evidence bucket of this account (the reports of every execution)."
  value       = module.pipeline.evidence_bucket
}

output "auditor_role_arn" {
  description = "The auditors' read-only role."
  value       = module.pipeline.auditor_role_arn
}

output "tenant_build" {
  description = "The tenant build (bbws-tenant-build-<env>): its CodeBuild project, role and log group, the tenants' state bucket and lock table, the plans bucket, its key and the repository it checks out."
  value = {
    project_name         = module.pipeline.tenant_build_project_name
    project_arn          = module.pipeline.tenant_build_project_arn
    role_arn             = module.pipeline.tenant_build_role_arn
    log_group            = module.pipeline.tenant_build_log_group
    artifacts_bucket     = module.pipeline.tenant_artifacts_bucket
    artifacts_bucket_arn = module.pipeline.tenant_artifacts_bucket_arn
    state_bucket         = module.pipeline.tenant_state_bucket
    lock_table           = module.pipeline.tenant_lock_table
    kms_key_arn          = module.pipeline.tenant_build_kms_key_arn
    repository_url       = module.pipeline.tenants_repository_url
  }
}
