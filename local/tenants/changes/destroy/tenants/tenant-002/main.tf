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

output "service_name" {
  value = module.wordpress_instance.service_name
}

output "cluster_name" {
  value = module.wordpress_instance.cluster_name
}
