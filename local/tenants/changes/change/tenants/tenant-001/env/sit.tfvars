env              = "sit"
image_tag        = "6.5-php8.2-apache"
desired_count    = 2
site_url         = "https://tenant-001.sit.bbws.io"
php_memory_limit = "512M"
