variable "env" {
  description = "The account this pipeline is deployed into and promotes to: dev, sit or prod."
  type        = string
  validation {
    condition     = contains(["dev", "sit", "prod"], var.env)
    error_message = "env must be dev, sit or prod."
  }
}

variable "source_env" {
  description = "The environment promoted from (RB-003 §1.2): null for dev, dev for sit, sit for prod."
  type        = string
  default     = null
  validation {
    condition     = coalesce(var.source_env, "none") == { dev = "none", sit = "dev", prod = "sit" }[var.env]
    error_message = "source_env must be null for dev, dev for sit and sit for prod (RB-003 §1.2)."
  }
}

variable "region" {
  description = "The region the pipeline and the environment's primary workloads live in (RB-003 §1.3)."
  type        = string
  default     = "af-south-1"
}

variable "failover_region" {
  description = "PROD's failover region (eu-west-1), where deploy, backup and rollback also act; null elsewhere. Must be the region of the aws.failover provider."
  type        = string
  default     = null
  validation {
    condition     = var.failover_region == null || var.env == "prod"
    error_message = "Only PROD has a failover region (RB-003 §1.3)."
  }
}

variable "lambda_zip_dir" {
  description = "Directory holding <bin>/bootstrap.zip for the eight functions (cargo lambda build --output-format zip)."
  type        = string
}

variable "promotion_config" {
  description = "The promotion rules as one JSON document, kept in the evidence bucket (config/<env>/promotion-config.json, config.tf) for the functions that apply them; \"\" = the runbook's rules (events/config/runbook.json)."
  type        = string
  default     = ""
  validation {
    condition     = var.promotion_config == "" || can(jsondecode(var.promotion_config).catalog)
    error_message = "promotion_config must be \"\" or a JSON configuration document with a catalog."
  }
}

variable "approvers" {
  description = "Who holds each approval role (RB-003 §2.2, §4.1.2): role -> email addresses."
  type        = map(list(string))
  validation {
    condition     = alltrue([for role in keys(var.approvers) : contains(["dev_lead", "tech_lead", "operations_lead", "cto"], role)])
    error_message = "approvers keys must be dev_lead, tech_lead, operations_lead or cto."
  }
  validation {
    condition     = alltrue(flatten([for emails in values(var.approvers) : [for e in emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))]]))
    error_message = "approvers must be email addresses."
  }
}

variable "notification_emails" {
  description = "Addresses subscribed to the promotion events topic."
  type        = list(string)
  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must be email addresses."
  }
}

variable "source_reader_role_arn" {
  description = "The source account's bbws-promotion-source-reader role (null for dev, which has no source)."
  type        = string
  default     = null
  validation {
    condition     = (var.source_reader_role_arn == null) == (var.source_env == null)
    error_message = "source_reader_role_arn is required exactly when source_env is set."
  }
}

variable "approval_signing_key" {
  description = "The HMAC key that signs approval links, stored as a SecureString; at least 32 characters."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.approval_signing_key) >= 32
    error_message = "approval_signing_key must be at least 32 characters."
  }
}

variable "statemachine_dir" {
  description = "Directory holding promote.asl.json, rollback.asl.json and release.asl.json; null = the repository's statemachine/ directory."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the functions' and the state machines' log groups."
  type        = number
  default     = 90
}

variable "approval_reserved_concurrency" {
  description = "Reserved (and so maximum) concurrency of the approval function, whose URL is public."
  type        = number
  default     = 10
}

variable "deletion_protection" {
  description = "Deletion protection of the deployments and approvals tables (the audit trail)."
  type        = bool
  default     = true
}

variable "evidence_noncurrent_days" {
  description = "Days a replaced version of an evidence object is kept (7 years by default): records are evidence."
  type        = number
  default     = 2555
  validation {
    condition     = var.evidence_noncurrent_days >= 365
    error_message = "evidence_noncurrent_days: evidence is kept at least a year."
  }
}

variable "auditor_principals" {
  description = "Who may assume bbws-promotion-auditor-<env> (read-only: records, evidence, execution history); null: the account itself (its IAM policies decide, e.g. an IAM Identity Center permission set)."
  type        = list(string)
  default     = null
}

variable "tenants_repository_url" {
  description = "The tenants' Terraform repository (2_bbws_tenants_instances_dev, RB-003 §3.2.4) the tenant build checks out: its GitHub HTTPS clone URL."
  type        = string
  default     = "https://github.com/bbws/2_bbws_tenants_instances_dev.git"
  validation {
    condition     = can(regex("^https://github\\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\\.git$", var.tenants_repository_url))
    error_message = "tenants_repository_url must be https://github.com/<owner>/<repository>.git."
  }
}

variable "tenant_terraform_version" {
  description = "The Terraform version the tenant build runs (installed from HashiCorp's release when the build image has another)."
  type        = string
  default     = "1.11.4"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.tenant_terraform_version))
    error_message = "tenant_terraform_version must be a release version such as 1.11.4."
  }
}

variable "tenant_terraform_sha256" {
  description = "SHA-256 of terraform_<tenant_terraform_version>_linux_amd64.zip (HashiCorp's SHA256SUMS): the build refuses any other bytes. The default is 1.11.4's."
  type        = string
  default     = "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc"
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.tenant_terraform_sha256))
    error_message = "tenant_terraform_sha256 must be 64 lower-case hex digits."
  }
}

variable "tenant_build_image" {
  description = "The tenant build's CodeBuild image (x86_64; it must have bash, git, jq, curl, unzip and the AWS CLI)."
  type        = string
  default     = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
}

variable "tenant_build_timeout_minutes" {
  description = "How long one tenant build (plan or apply of the tenants it is given) may run."
  type        = number
  default     = 30
  validation {
    condition     = var.tenant_build_timeout_minutes >= 5 && var.tenant_build_timeout_minutes <= 480
    error_message = "tenant_build_timeout_minutes must be between 5 and 480 (CodeBuild's limits)."
  }
}

variable "tenant_build_queued_timeout_minutes" {
  description = "How long a tenant build may wait in CodeBuild's queue before it is dropped."
  type        = number
  default     = 60
  validation {
    condition     = var.tenant_build_queued_timeout_minutes >= 5 && var.tenant_build_queued_timeout_minutes <= 480
    error_message = "tenant_build_queued_timeout_minutes must be between 5 and 480 (CodeBuild's limits)."
  }
}

variable "tenant_state_noncurrent_days" {
  description = "Days a replaced version of a tenant's Terraform state is kept."
  type        = number
  default     = 90
  validation {
    condition     = var.tenant_state_noncurrent_days >= 30
    error_message = "tenant_state_noncurrent_days: a replaced state is kept at least 30 days."
  }
}

variable "tenant_plans_retention_days" {
  description = "Days a tenant's saved plan (tfplan, plan.json, plan-summary.json) is kept after it was published."
  type        = number
  default     = 400
  validation {
    condition     = var.tenant_plans_retention_days >= 90
    error_message = "tenant_plans_retention_days: plans are kept at least 90 days."
  }
}
