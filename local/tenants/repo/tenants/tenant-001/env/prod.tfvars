env           = "prod"
image_tag     = "6.4-php8.2-apache"
desired_count = 2
site_url      = "https://tenant-001.bbws.io"
