# The promotion pipeline of one BBWS account (RB-003): eight Lambda functions, their roles, the
# deployment/lock/approval/quality-gate tables, the events and approvals topics, the approval key, the
# bbws-rollback-<env> and bbws-watch-<env> state machines (every account: a rollback returns a service to
# a recorded deployment; the watch checks each deployment for 24 hours, RB-003 §7.2) and,
# in SIT and PROD, the bbws-promote-<env> state machine and the bbws-release-<env> state machine, which
# promotes several services by running bbws-promote-<env> once per service as a child execution.

locals {
  # RB-003 §1.3.
  accounts   = { dev = "536580886816", sit = "815856636111", prod = "093646564004" }
  account_id = local.accounts[var.env]
  partition  = "aws"

  # The regions the functions act in: PROD's failover region too (RB-003 §1.3, §6.3).
  target_regions = compact([var.region, var.failover_region])

  # The functions this pipeline promotes in its own account: those of the catalog the functions are
  # given, so IAM follows it. Without a deployed configuration that is the runbook's catalog (RB-003
  # §1.4), read from events/config/runbook.json, the configuration the functions build in.
  catalog_config         = var.promotion_config == "" ? file("${path.module}/../../../events/config/runbook.json") : var.promotion_config
  function_templates     = flatten([for service in jsondecode(local.catalog_config).catalog : service.functions])
  service_function_names = distinct([for t in local.function_templates : replace(t, "{env}", var.env)])

  # Each service function and each of its versions and aliases (`:*`), per region.
  service_function_arns = {
    for r in local.target_regions : r => flatten([
      for n in local.service_function_names : [
        "arn:${local.partition}:lambda:${r}:${local.account_id}:function:${n}",
        "arn:${local.partition}:lambda:${r}:${local.account_id}:function:${n}:*",
      ]
    ])
  }
  all_region_service_arns = flatten(values(local.service_function_arns))

  # The eight functions: key -> Cargo binary and timeout. Function and role are both named
  # bbws-promotion-<key>-<env>, so the source account can name these roles without remote state.
  functions = {
    preflight      = { bin = "bbws-preflight", timeout = 60 }
    "backup-alias" = { bin = "bbws-backup-alias", timeout = 60 }
    deploy         = { bin = "bbws-deploy", timeout = 300 } # four functions, two regions
    monitor        = { bin = "bbws-monitor", timeout = 60 }
    rollback       = { bin = "bbws-rollback", timeout = 120 }
    record         = { bin = "bbws-record", timeout = 60 }
    approval       = { bin = "bbws-approval", timeout = 30 }
    watch          = { bin = "bbws-watch", timeout = 60 }
    tenant         = { bin = "bbws-tenant", timeout = 60 }
  }
  function_names = { for k, _ in local.functions : k => "bbws-promotion-${k}-${var.env}" }
  function_arns = {
    for k, n in local.function_names : k => "arn:${local.partition}:lambda:${var.region}:${local.account_id}:function:${n}"
  }

  tables = {
    deployments = "bbws-deployments-${var.env}"
    locks       = "bbws-promotion-locks-${var.env}"
    approvals   = "bbws-approvals-${var.env}"
    gates       = "bbws-quality-gates-${var.env}"
  }
  table_arns = {
    for k, n in local.tables : k => "arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${n}"
  }

  parameters = {
    approval_key = "/bbws/promotion/${var.env}/approval-key"
    approval_url = "/bbws/promotion/${var.env}/approval-url"
    approvers    = "/bbws/promotion/${var.env}/approvers"
  }

  # bbws-promote-<env> and bbws-release-<env> exist where there is a source (SIT, PROD);
  # bbws-rollback-<env> everywhere. ARNs are built from the names: the roles' policies and the
  # definitions name machines that depend on them.
  state_machine_name          = "bbws-promote-${var.env}"
  state_machine_arn           = "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  has_state_machine           = var.source_env != null
  rollback_state_machine_name = "bbws-rollback-${var.env}"
  rollback_state_machine_arn  = "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${local.rollback_state_machine_name}"
  release_state_machine_name  = "bbws-release-${var.env}"
  release_state_machine_arn   = "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${local.release_state_machine_name}"
  # bbws-tenant-<env> (every account): a tenant's Terraform planned, approved, applied and verified.
  tenant_state_machine_name = "bbws-tenant-${var.env}"
  tenant_state_machine_arn  = "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${local.tenant_state_machine_name}"
  state_machine_names = concat(
    local.has_state_machine ? [local.state_machine_name] : [],
    [local.rollback_state_machine_name],
    local.has_state_machine ? [local.release_state_machine_name] : [],
    [local.tenant_state_machine_name],
  )
  state_machine_arns = concat(
    local.has_state_machine ? [local.state_machine_arn] : [],
    [local.rollback_state_machine_arn],
    local.has_state_machine ? [local.release_state_machine_arn] : [],
    [local.tenant_state_machine_arn],
  )
  # bbws-watch-<env>: one execution per deployment that succeeded, started by the record function; not
  # among state_machine_names, whose executions hold locks and answer approvals.
  watch_state_machine_name = "bbws-watch-${var.env}"
  watch_state_machine_arn  = "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${local.watch_state_machine_name}"
  # Every state machine of the account, for its alarm and the dashboard.
  all_state_machine_names = concat(local.state_machine_names, [local.watch_state_machine_name])
  all_state_machine_arns  = concat(local.state_machine_arns, [local.watch_state_machine_arn])
  statemachine_dir        = coalesce(var.statemachine_dir, "${path.module}/../../../statemachine")

  # The promotion rules (var.promotion_config, else the runbook's) as the functions that apply them
  # read them: one version of an object of the evidence bucket (config.tf).
  config_key     = "config/${var.env}/promotion-config.json"
  config_readers = toset(["preflight", "monitor", "record", "rollback", "tenant", "watch"])

  # The functions' environment (the approval function's too: it reads its URL from SSM, so the URL
  # is no input of the function itself and there is no cycle).
  common_environment = merge(
    {
      BBWS_ENV                = var.env
      BBWS_DEPLOYMENTS_TABLE  = local.tables.deployments
      BBWS_LOCKS_TABLE        = local.tables.locks
      BBWS_APPROVALS_TABLE    = local.tables.approvals
      BBWS_EVENTS_TOPIC_ARN   = aws_sns_topic.events.arn
      BBWS_APPROVAL_TOPIC_ARN = aws_sns_topic.approvals.arn
      BBWS_APPROVAL_KEY_PARAM = local.parameters.approval_key
      BBWS_APPROVAL_URL_PARAM = local.parameters.approval_url
      BBWS_APPROVERS_PARAM    = local.parameters.approvers
      BBWS_EVIDENCE_BUCKET    = local.evidence_bucket
      # The tenant build (tenant_build.tf) the tenant machine runs, and where its plans are kept.
      BBWS_TENANT_PROJECT          = local.tenant_build_name
      BBWS_TENANT_ARTIFACTS_BUCKET = local.tenant_plans_bucket
      RUST_LOG                     = "info"
    },
    var.source_reader_role_arn == null ? {} : { BBWS_SOURCE_READER_ROLE_ARN = var.source_reader_role_arn },
    var.failover_region == null ? {} : { BBWS_FAILOVER_REGION = var.failover_region },
  )
}

# The credentials must be the account's own: SIT's code applied with PROD's profile stops here.
data "aws_caller_identity" "current" {
  lifecycle {
    postcondition {
      condition     = self.account_id == local.account_id
      error_message = "The credentials act in account ${self.account_id}, not ${upper(var.env)}'s ${local.account_id}."
    }
  }
}

# The failover provider must point where BBWS_FAILOVER_REGION and the IAM scopes say.
data "aws_region" "failover" {
  provider = aws.failover
  lifecycle {
    postcondition {
      condition     = var.failover_region == null || self.name == var.failover_region
      error_message = "The aws.failover provider is in ${self.name}, not the failover region ${coalesce(var.failover_region, "-")}."
    }
  }
}
