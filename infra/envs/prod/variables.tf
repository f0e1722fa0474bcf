variable "local_endpoint" {
  description = "The local estate's endpoint (e.g. http://127.0.0.1:4566); null = AWS."
  type        = string
  default     = null
}

variable "aws_profile" {
  description = "Shared-config profile to apply with (locally: bbws-prod); null = the default credential chain."
  type        = string
  default     = null
}

variable "lambda_zip_dir" {
  description = "Directory of <bin>/bootstrap.zip for the eight functions, relative to this directory or absolute."
  type        = string
  default     = "../../../target/lambda"
}

variable "promotion_config" {
  description = "The promotion rules as JSON (written to the evidence bucket for the functions); \"\" = the runbook's rules."
  type        = string
  default     = ""
}

variable "approvers" {
  description = "Approval role -> email addresses (RB-003 §2.2; cto for emergency deployments, §4.1.2)."
  type        = map(list(string))
  default = {
    dev_lead        = ["dev-lead@bbws.io"]
    tech_lead       = ["tech-lead@bbws.io"]
    operations_lead = ["ops-lead@bbws.io"]
    cto             = ["cto@bbws.io"]
  }
}

variable "notification_emails" {
  description = "Addresses that receive promotion events."
  type        = list(string)
  default     = ["platform-team@bbws.io"]
}

variable "approval_signing_key" {
  description = "HMAC key for approval links (>= 32 characters). Give it through TF_VAR_approval_signing_key from a secret store; rotation in infra/README.md."
  type        = string
  sensitive   = true
}

variable "statemachine_dir" {
  description = "Directory holding promote.asl.json, rollback.asl.json and release.asl.json; null = the repository's statemachine/."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Deletion protection of the deployments and approvals tables; set false and apply before a destroy."
  type        = bool
  default     = true
}

variable "tenants_repository_url" {
  description = "The tenants' Terraform repository (2_bbws_tenants_instances_dev) the tenant build checks out: a GitHub HTTPS clone URL."
  type        = string
  default     = "https://github.com/bbws/2_bbws_tenants_instances_dev.git"
}

variable "github_org" {
  description = "The GitHub organisation whose repositories' workflows may assume bbws-github-actions-role-<env>."
  type        = string
  default     = "BigBeardWebSolutions"
}

variable "github_repositories" {
  description = "The repositories of github_org whose workflows may assume the role (RB-003 §1.4)."
  type        = list(string)
  default = [
    "2_bbws_tenants_instances_lambda",
    "2_bbws_wordpress_site_management_lambda",
    "2_bbws_tenants_event_handler",
  ]
}

variable "create_github_oidc_provider" {
  description = "Create the account's OIDC provider for token.actions.githubusercontent.com; false where it already exists."
  type        = bool
  default     = true
}
