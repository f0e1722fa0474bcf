# SIT (815856636111): the pipeline that promotes DEV -> SIT (bbws-promote-sit; several services at once
# with bbws-release-sit) and rolls SIT back (bbws-rollback-sit), and the source reader through which
# PROD's pipeline reads SIT.
#
# On AWS, apply envs/prod before this root: the reader's trust names PROD's roles, which must exist.

locals {
  env        = "sit"
  account_id = "815856636111"
  region     = "af-south-1"
  on_estate  = var.local_endpoint != null
  # DEV's reader role (536580886816), created by envs/dev.
  source_reader_role_arn = "arn:aws:iam::536580886816:role/bbws-promotion-source-reader"
  # The PROD pipeline roles that read SIT, by the names the pipeline module gives them.
  next_env_readers = [for f in ["preflight", "deploy", "tenant"] : "arn:aws:iam::093646564004:role/bbws-promotion-${f}-prod"]
  tags = {
    Project     = "bbws"
    System      = "promotion-pipeline"
    Environment = local.env
    Runbook     = "RB-003"
    ManagedBy   = "terraform"
  }
}

module "pipeline" {
  source = "../../modules/pipeline"
  providers = {
    aws          = aws
    aws.failover = aws # SIT has no failover region
  }

  env                    = local.env
  source_env             = "dev"
  region                 = local.region
  failover_region        = null
  source_reader_role_arn = local.source_reader_role_arn
  lambda_zip_dir         = var.lambda_zip_dir
  promotion_config       = var.promotion_config
  approvers              = var.approvers
  notification_emails    = var.notification_emails
  approval_signing_key   = var.approval_signing_key
  statemachine_dir       = var.statemachine_dir
  deletion_protection    = var.deletion_protection
  tenants_repository_url = var.tenants_repository_url
}

module "source_reader" {
  source = "../../modules/source-reader"

  env                     = local.env
  region                  = local.region
  trusted_role_arns       = local.next_env_readers
  service_function_names  = module.pipeline.service_function_names
  quality_gates_table_arn = module.pipeline.table_arns.gates
  deployments_table_arn   = module.pipeline.table_arns.deployments
}

# bbws-github-actions-role-sit (RB-003 §1.3) and the account's GitHub OIDC provider: see the module.
module "github_oidc" {
  source = "../../modules/github-oidc"

  env                      = local.env
  region                   = local.region
  github_org               = var.github_org
  github_repositories      = var.github_repositories
  create_oidc_provider     = var.create_github_oidc_provider
  state_machine_names      = [for k in ["promote", "release", "rollback"] : "bbws-${k}-${local.env}"]
  deployments_table_arn    = module.pipeline.table_arns.deployments
  approvers_parameter_name = module.pipeline.parameter_names.approvers
  quality_gates_table_arn  = module.pipeline.table_arns.gates
  service_function_arns    = [for n in module.pipeline.service_function_names : "arn:aws:lambda:${local.region}:${local.account_id}:function:${n}"]
}
