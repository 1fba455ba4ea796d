variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-central-1"
}

variable "project" {
  description = "Name prefix for every resource."
  type        = string
  default     = "fl"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project must be 2-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, staging, prod), used in names and tags."
  type        = string
  default     = "dev"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into two public and two private /20 subnets."
  type        = string
  default     = "10.42.0.0/16"
}

variable "client_ingress_cidrs" {
  description = "CIDR blocks allowed to reach the coordinator's gRPC port (external FL clients). The clients created here are always allowed."
  type        = list(string)
  default     = []
}

variable "admin_cidrs" {
  description = "CIDR blocks allowed to reach the coordinator's HTTP port (REST API, dashboard, /metrics). Empty: reach it through SSM port forwarding only."
  type        = list(string)
  default     = []
}

variable "coordinator_image" {
  description = "Container image of fl-coordinator (built from docker/Coordinator.dockerfile), e.g. 123456789012.dkr.ecr.eu-central-1.amazonaws.com/fl-coordinator:0.1.0."
  type        = string
}

variable "client_image" {
  description = "Container image of fl-client (built from docker/Client.dockerfile)."
  type        = string
}

variable "coordinator_instance_type" {
  description = "EC2 instance type of the coordinator."
  type        = string
  default     = "t3.large"
}

variable "client_instance_type" {
  description = "EC2 instance type of each client."
  type        = string
  default     = "c6i.large"
}

variable "client_count" {
  description = "Number of EC2 client instances (client ids client-001, client-002, ...)."
  type        = number
  default     = 3

  validation {
    condition     = var.client_count >= 0 && var.client_count <= 100
    error_message = "client_count must be between 0 and 100."
  }
}

variable "coordinator_volume_gb" {
  description = "Size in GiB of the coordinator's encrypted data volume (checkpoints)."
  type        = number
  default     = 30
}

variable "mnist_s3_uri" {
  description = "S3 prefix holding the MNIST IDX .gz files (e.g. s3://my-bucket/mnist/); synced to every instance at boot. Empty: no data is fetched."
  type        = string
  default     = ""
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL metadata store."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_engine_version" {
  description = "PostgreSQL major version for RDS."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Allocated RDS storage in GiB."
  type        = number
  default     = 20
}

variable "db_username" {
  description = "Master user name of the RDS instance. The password is generated and kept in Secrets Manager."
  type        = string
  default     = "fl"
}

variable "db_multi_az" {
  description = "Run RDS Multi-AZ (recommended for prod)."
  type        = bool
  default     = false
}

variable "db_deletion_protection" {
  description = "Protect the RDS instance from deletion."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type for the Redis session store."
  type        = string
  default     = "cache.t4g.micro"
}

variable "redis_engine_version" {
  description = "ElastiCache Redis engine version."
  type        = string
  default     = "7.1"
}

variable "admin_api_key" {
  description = "Admin API key for the coordinator (FL_ADMIN_API_KEY). Leave null to generate one; either way it is stored in Secrets Manager, never on disk in the repo."
  type        = string
  default     = null
  sensitive   = true
}

variable "enable_prometheus" {
  description = "Run Prometheus with monitoring/prometheus/alerts.yml next to the coordinator (127.0.0.1:9090 on the coordinator host)."
  type        = bool
  default     = true
}
