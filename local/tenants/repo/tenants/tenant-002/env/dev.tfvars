env           = "dev"
image_tag     = "6.5-php8.2-apache"
desired_count = 1
site_url      = "https://tenant-002.dev.bbws.io"
