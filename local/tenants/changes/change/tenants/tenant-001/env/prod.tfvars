env              = "prod"
image_tag        = "6.4-php8.2-apache"
desired_count    = 3
site_url         = "https://tenant-001.bbws.io"
php_memory_limit = "512M"
