variable "env" {
  description = "dev, sit or prod: the role is bbws-github-actions-role-<env> (RB-003 §1.3)."
  type        = string
  validation {
    condition     = contains(["dev", "sit", "prod"], var.env)
    error_message = "env: one of dev, sit, prod."
  }
}

variable "region" {
  description = "The account's primary region (where the state machines and tables are)."
  type        = string
}

variable "github_org" {
  description = "The GitHub organisation whose repositories may assume the role."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github_org))
    error_message = "github_org: a GitHub organisation name (letters, digits and hyphens, up to 39)."
  }
}

variable "github_repositories" {
  description = "The repositories of github_org (names without the organisation) whose workflows may assume the role."
  type        = list(string)
  validation {
    condition     = length(var.github_repositories) > 0 && alltrue([for r in var.github_repositories : can(regex("^[A-Za-z0-9._-]{1,100}$", r))])
    error_message = "github_repositories: at least one repository name (letters, digits, '.', '_', '-'; no '/', no wildcard)."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's OIDC provider for token.actions.githubusercontent.com; false where the account already has one (an account holds one provider per issuer URL)."
  type        = bool
  default     = true
}

variable "state_machine_names" {
  description = "The state machines of this environment the workflows start and follow (bbws-promote-<env>, bbws-release-<env>, bbws-rollback-<env>)."
  type        = list(string)
}

variable "deployments_table_arn" {
  description = "bbws-deployments-<env>: the records the job summary links as evidence (Query on its service-timestamp index)."
  type        = string
}

variable "approvers_parameter_name" {
  description = "The SSM parameter with the approver directory (role -> addresses): who an approval waits for."
  type        = string
}

variable "quality_gates_table_arn" {
  description = "bbws-quality-gates-<env>, where the services' CI records its gates; null = none (PROD: gates are recorded in DEV and SIT only)."
  type        = string
  default     = null
}

variable "service_function_arns" {
  description = "The service functions whose package's CodeSha256 the quality-gate action may read (lambda:GetFunctionConfiguration); only with quality_gates_table_arn."
  type        = list(string)
  default     = []
}

variable "max_session_seconds" {
  description = "The role's maximum session: a job follows its execution for up to this long (GitHub-hosted jobs end after 6 hours)."
  type        = number
  default     = 21600
}
