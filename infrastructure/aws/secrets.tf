# Generated credentials live only in the Terraform state (keep it in an
# encrypted remote backend) and in Secrets Manager; nothing is committed.

resource "random_password" "db" {
  length  = 32
  special = false # embedded in a postgres:// URL
}

resource "random_password" "redis_auth" {
  length  = 48
  special = false # ElastiCache forbids some specials; also part of a URL
}

resource "random_password" "admin_api_key" {
  length  = 48
  special = false
}

locals {
  admin_api_key = coalesce(var.admin_api_key, random_password.admin_api_key.result)
  database_url  = "postgres://${var.db_username}:${random_password.db.result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${aws_db_instance.main.db_name}?sslmode=require"
  redis_url     = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379"
}

resource "aws_secretsmanager_secret" "coordinator" {
  name                    = "${local.name}/coordinator"
  description             = "Environment of fl-coordinator: FL_DATABASE_URL, FL_REDIS_URL, FL_ADMIN_API_KEY"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "coordinator" {
  secret_id = aws_secretsmanager_secret.coordinator.id
  secret_string = jsonencode({
    FL_DATABASE_URL  = local.database_url
    FL_REDIS_URL     = local.redis_url
    FL_ADMIN_API_KEY = local.admin_api_key
  })
}
