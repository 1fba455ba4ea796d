output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.main.id
}

output "coordinator_instance_id" {
  description = "EC2 instance id of the coordinator (for `aws ssm start-session`)."
  value       = aws_instance.coordinator.id
}

output "coordinator_public_ip" {
  description = "Public IP of the coordinator."
  value       = aws_instance.coordinator.public_ip
}

output "coordinator_grpc_endpoint" {
  description = "gRPC endpoint for clients outside the VPC (allowed by client_ingress_cidrs)."
  value       = "http://${aws_instance.coordinator.public_ip}:50051"
}

output "coordinator_internal_grpc_endpoint" {
  description = "gRPC endpoint used by the clients created here."
  value       = local.coordinator_url
}

output "coordinator_http_url" {
  description = "REST API, dashboard and /metrics (reachable from admin_cidrs, or via SSM port forwarding)."
  value       = "http://${aws_instance.coordinator.public_ip}:8080"
}

output "client_instance_ids" {
  description = "EC2 instance ids of the clients, by client id."
  value       = zipmap(local.client_ids, aws_instance.client[*].id)
}

output "rds_endpoint" {
  description = "Address:port of the RDS PostgreSQL instance (private)."
  value       = aws_db_instance.main.endpoint
}

output "redis_endpoint" {
  description = "Primary endpoint of the ElastiCache Redis replication group (private, TLS)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "coordinator_secret_arn" {
  description = "ARN of the Secrets Manager secret with FL_DATABASE_URL, FL_REDIS_URL and FL_ADMIN_API_KEY (the values are not output)."
  value       = aws_secretsmanager_secret.coordinator.arn
}

output "account_id" {
  description = "AWS account the stack was deployed into."
  value       = data.aws_caller_identity.current.account_id
}
