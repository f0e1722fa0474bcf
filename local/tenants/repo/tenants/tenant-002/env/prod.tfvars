env           = "prod"
image_tag     = "6.4-php8.2-apache"
desired_count = 1
site_url      = "https://tenant-002.bbws.io"
