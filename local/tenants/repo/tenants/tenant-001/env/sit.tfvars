env           = "sit"
image_tag     = "6.5-php8.2-apache"
desired_count = 1
site_url      = "https://tenant-001.sit.bbws.io"
