# PROD (093646564004): the pipeline that promotes SIT -> PROD (bbws-promote-prod; several services at
# once with bbws-release-prod) and rolls PROD back (bbws-rollback-prod) in af-south-1, acting on the PROD
# service functions in af-south-1 and in the failover region eu-west-1.
#
# On AWS this root is applied first (see infra/README.md).

locals {
  env        = "prod"
  account_id = "093646564004"
  region     = "af-south-1"
  # RB-003 §1.3: PROD fails over to eu-west-1.
  failover_region = "eu-west-1"
  on_estate       = var.local_endpoint != null
  # SIT's reader role (815856636111), created by envs/sit.
  source_reader_role_arn = "arn:aws:iam::815856636111:role/bbws-promotion-source-reader"
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
    aws.failover = aws.failover
  }

  env                    = local.env
  source_env             = "sit"
  region                 = local.region
  failover_region        = local.failover_region
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

# bbws-github-actions-role-prod (RB-003 §1.3) and the account's GitHub OIDC provider: see the module.
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
  quality_gates_table_arn  = null # PROD: the gates it checks are recorded in SIT
  service_function_arns    = []
}
