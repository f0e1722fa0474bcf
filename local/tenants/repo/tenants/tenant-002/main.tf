module "wordpress_instance" {
  source = "../../modules/wordpress-tenant"

  tenant_id     = var.tenant_id
  env           = var.env
  image_tag     = var.image_tag
  desired_count = var.desired_count
  settings = {
    site_url         = var.site_url
    php_memory_limit = var.php_memory_limit
  }
}

# The domain tenant-002 moved from: its old URLs are redirected to site_url until the move is done.
resource "aws_ssm_parameter" "legacy_redirects" {
  name        = "/bbws/tenants/${var.env}/${var.tenant_id}/legacy-redirects"
  description = "Old domains of ${var.tenant_id} redirected to its site URL"
  type        = "StringList"
  value       = join(",", var.legacy_domains)
}

output "service_name" {
  value = module.wordpress_instance.service_name
}

output "cluster_name" {
  value = module.wordpress_instance.cluster_name
}
