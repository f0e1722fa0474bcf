variable "tenant_id" {
  description = "The tenant's directory name under tenants/, e.g. tenant-001."
  type        = string
  validation {
    condition     = can(regex("^tenant-[0-9]{3}$", var.tenant_id))
    error_message = "tenant_id must look like tenant-001 (tenant- and three digits)."
  }
}

variable "env" {
  description = "The environment the tenant runs in: dev, sit or prod."
  type        = string
  validation {
    condition     = contains(["dev", "sit", "prod"], var.env)
    error_message = "env must be one of dev, sit, prod."
  }
}

variable "image" {
  description = "The WordPress container image, without its tag."
  type        = string
  default     = "wordpress"
}

variable "image_tag" {
  description = "The tag of the WordPress image the tenant runs."
  type        = string
}

variable "desired_count" {
  description = "How many WordPress tasks the service keeps running."
  type        = number
  validation {
    condition     = var.desired_count >= 0 && var.desired_count <= 10
    error_message = "desired_count must be between 0 and 10."
  }
}

variable "cpu" {
  description = "CPU units of a task (Fargate: 256, 512, 1024...)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Memory (MiB) of a task (a size Fargate offers for the CPU)."
  type        = number
  default     = 512
}

variable "log_retention_days" {
  description = "How long the tenant's container logs are kept."
  type        = number
  default     = 30
}

variable "settings" {
  description = "The tenant's WordPress settings (site URL, PHP limits...), stored as JSON in SSM."
  type        = map(string)
}
