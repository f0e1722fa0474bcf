variable "tenant_id" {
  description = "This tenant (the directory's name)."
  type        = string
  default     = "tenant-002"
}

variable "env" {
  description = "The environment: dev, sit or prod (from env/<env>.tfvars)."
  type        = string
}

variable "region" {
  description = "The environment's primary region."
  type        = string
  default     = "af-south-1"
}

variable "image_tag" {
  description = "The WordPress image tag this tenant runs in this environment."
  type        = string
}

variable "desired_count" {
  description = "WordPress tasks in this environment."
  type        = number
}

variable "site_url" {
  description = "The tenant's site URL in this environment."
  type        = string
}

variable "php_memory_limit" {
  description = "PHP memory_limit of the tenant's WordPress."
  type        = string
  default     = "256M"
}
