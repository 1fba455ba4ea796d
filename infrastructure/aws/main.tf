# FL framework on AWS: one coordinator and N clients on EC2 (containers run by
# cloud-init), PostgreSQL on RDS, Redis on ElastiCache, secrets in Secrets
# Manager. See docs/DEPLOYMENT.md.

locals {
  name       = "${var.project}-${var.environment}"
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)
  client_ids = [for i in range(var.client_count) : format("client-%03d", i + 1)]
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_caller_identity" "current" {}

# Amazon Linux 2023 (docker and the AWS CLI come from its repositories).
data "aws_ssm_parameter" "al2023_ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}
