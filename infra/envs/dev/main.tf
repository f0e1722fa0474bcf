# DEV (536580886816): the pipeline's functions, tables, topics, key and rollback state machine
# (bbws-rollback-dev; no promotion or release state machine: DEV is promoted from nowhere), and the
# source reader through which SIT's pipeline reads DEV.
#
# On AWS, apply envs/sit before this root: the reader's trust names SIT's roles, which must exist.

locals {
  env        = "dev"
  account_id = "536580886816"
  region     = "af-south-1"
  on_estate  = var.local_endpoint != null
  # The SIT pipeline roles that read DEV, by the names the pipeline module gives them.
  next_env_readers = [for f in ["preflight", "deploy"] : "arn:aws:iam::815856636111:role/bbws-promotion-${f}-sit"]
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
    aws.failover = aws # DEV has no failover region
  }

  env                    = local.env
  source_env             = null
  region                 = local.region
  failover_region        = null
  source_reader_role_arn = null
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
}

# bbws-github-actions-role-dev (RB-003 §1.3) and the account's GitHub OIDC provider: see the module.
module "github_oidc" {
  source = "../../modules/github-oidc"

  env                      = local.env
  region                   = local.region
  github_org               = var.github_org
  github_repositories      = var.github_repositories
  create_oidc_provider     = var.create_github_oidc_provider
  state_machine_names      = ["bbws-rollback-${local.env}"]
  deployments_table_arn    = module.pipeline.table_arns.deployments
  approvers_parameter_name = module.pipeline.parameter_names.approvers
  quality_gates_table_arn  = module.pipeline.table_arns.gates
  service_function_arns    = [for n in module.pipeline.service_function_names : "arn:aws:lambda:${local.region}:${local.account_id}:function:${n}"]
}
