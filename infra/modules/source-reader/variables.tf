variable "env" {
  description = "The source account this role is in: dev (read by SIT) or sit (read by PROD)."
  type        = string
  validation {
    condition     = contains(["dev", "sit"], var.env)
    error_message = "A source reader exists in dev and sit only (PROD is promoted to, never from)."
  }
}

variable "region" {
  description = "The source environment's region."
  type        = string
  default     = "af-south-1"
}

variable "trusted_role_arns" {
  description = "The next environment's pipeline roles allowed to assume this role, by exact ARN."
  type        = list(string)
  validation {
    condition     = length(var.trusted_role_arns) > 0 && alltrue([for a in var.trusted_role_arns : can(regex("^arn:aws:iam::[0-9]{12}:role/bbws-promotion-[a-z-]+$", a))])
    error_message = "trusted_role_arns must be role ARNs of bbws-promotion-* roles."
  }
}

variable "service_function_names" {
  description = "The source environment's service functions the next environment reads (code, configuration, aliases)."
  type        = list(string)
}

variable "quality_gates_table_arn" {
  description = "The source account's bbws-quality-gates-<env> table."
  type        = string
}

variable "deployments_table_arn" {
  description = "The source account's bbws-deployments-<env> table, whose service-timestamp index the next environment's preflight queries (SIT: since when a version serves); null where nothing reads it (DEV)."
  type        = string
  default     = null
}
