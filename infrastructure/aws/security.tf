# ---- security groups -------------------------------------------------------------

resource "aws_security_group" "coordinator" {
  name        = "${local.name}-coordinator"
  description = "fl-coordinator: gRPC from clients, HTTP from admins"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-coordinator" }
}

resource "aws_security_group" "client" {
  name        = "${local.name}-client"
  description = "fl-client: outbound only"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-client" }
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "PostgreSQL from the coordinator only"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-db" }
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "Redis from the coordinator only"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-redis" }
}

resource "aws_vpc_security_group_ingress_rule" "grpc_from_clients" {
  security_group_id            = aws_security_group.coordinator.id
  referenced_security_group_id = aws_security_group.client.id
  ip_protocol                  = "tcp"
  from_port                    = 50051
  to_port                      = 50051
  description                  = "gRPC from the FL clients"
}

resource "aws_vpc_security_group_ingress_rule" "grpc_external" {
  for_each          = toset(var.client_ingress_cidrs)
  security_group_id = aws_security_group.coordinator.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 50051
  to_port           = 50051
  description       = "gRPC from external FL clients"
}

resource "aws_vpc_security_group_ingress_rule" "http_admin" {
  for_each          = toset(var.admin_cidrs)
  security_group_id = aws_security_group.coordinator.id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 8080
  to_port           = 8080
  description       = "REST API, dashboard and /metrics from admins"
}

resource "aws_vpc_security_group_ingress_rule" "db_from_coordinator" {
  security_group_id            = aws_security_group.db.id
  referenced_security_group_id = aws_security_group.coordinator.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from the coordinator"
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_coordinator" {
  security_group_id            = aws_security_group.redis.id
  referenced_security_group_id = aws_security_group.coordinator.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  description                  = "Redis from the coordinator"
}

# Instances need outbound HTTPS (image registry, Secrets Manager, S3, SSM) and
# the coordinator needs the database and cache.
resource "aws_vpc_security_group_egress_rule" "coordinator_all" {
  security_group_id = aws_security_group.coordinator.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  description       = "All outbound"
}

resource "aws_vpc_security_group_egress_rule" "client_all" {
  security_group_id = aws_security_group.client.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  description       = "All outbound"
}

# ---- instance roles --------------------------------------------------------------
# Separate roles: only the coordinator may read the coordinator's secret.

locals {
  roles        = toset(["coordinator", "client"])
  mnist_bucket = var.mnist_s3_uri == "" ? "" : split("/", trimprefix(var.mnist_s3_uri, "s3://"))[0]
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  for_each           = local.roles
  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# Shell access through SSM Session Manager instead of SSH keys and port 22.
resource "aws_iam_role_policy_attachment" "ssm" {
  for_each   = local.roles
  role       = aws_iam_role.instance[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "ecr_read" {
  for_each   = local.roles
  role       = aws_iam_role.instance[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

data "aws_iam_policy_document" "coordinator_secret" {
  statement {
    sid       = "ReadCoordinatorSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.coordinator.arn]
  }
}

resource "aws_iam_role_policy" "coordinator_secret" {
  name   = "${local.name}-coordinator-secret"
  role   = aws_iam_role.instance["coordinator"].id
  policy = data.aws_iam_policy_document.coordinator_secret.json
}

data "aws_iam_policy_document" "mnist_read" {
  count = var.mnist_s3_uri == "" ? 0 : 1
  statement {
    sid     = "ReadMnist"
    actions = ["s3:GetObject", "s3:ListBucket"]
    resources = [
      "arn:aws:s3:::${local.mnist_bucket}",
      "arn:aws:s3:::${local.mnist_bucket}/*",
    ]
  }
}

resource "aws_iam_role_policy" "mnist_read" {
  for_each = var.mnist_s3_uri == "" ? toset([]) : local.roles
  name     = "${local.name}-${each.key}-mnist"
  role     = aws_iam_role.instance[each.key].id
  policy   = data.aws_iam_policy_document.mnist_read[0].json
}

resource "aws_iam_instance_profile" "instance" {
  for_each = local.roles
  name     = "${local.name}-${each.key}"
  role     = aws_iam_role.instance[each.key].name
}
