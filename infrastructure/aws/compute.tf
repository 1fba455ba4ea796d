# Coordinator and clients on EC2. cloud-init (templates/*.tftpl) installs
# Docker, fetches secrets and data, and runs the images from docker/.

locals {
  ami             = data.aws_ssm_parameter.al2023_ami.insecure_value
  coordinator_url = "http://${aws_instance.coordinator.private_ip}:50051"
}

resource "aws_instance" "coordinator" {
  ami                    = local.ami
  instance_type          = var.coordinator_instance_type
  subnet_id              = aws_subnet.public[0].id
  vpc_security_group_ids = [aws_security_group.coordinator.id]
  iam_instance_profile   = aws_iam_instance_profile.instance["coordinator"].name

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = var.coordinator_volume_gb
    volume_type = "gp3"
    encrypted   = true
  }

  user_data = templatefile("${path.module}/templates/coordinator-user-data.sh.tftpl", {
    region            = var.aws_region
    coordinator_image = var.coordinator_image
    secret_arn        = aws_secretsmanager_secret.coordinator.arn
    mnist_s3_uri      = var.mnist_s3_uri
    enable_prometheus = var.enable_prometheus
    prometheus_alerts = base64encode(file("${path.module}/../../monitoring/prometheus/alerts.yml"))
  })
  user_data_replace_on_change = true

  # The secret must hold its value before the instance boots and reads it.
  depends_on = [aws_secretsmanager_secret_version.coordinator]

  lifecycle {
    ignore_changes = [ami] # a new AL2023 release must not replace the coordinator
  }

  tags = { Name = "${local.name}-coordinator", Role = "coordinator" }
}

resource "aws_instance" "client" {
  count                  = var.client_count
  ami                    = local.ami
  instance_type          = var.client_instance_type
  subnet_id              = aws_subnet.public[count.index % length(aws_subnet.public)].id
  vpc_security_group_ids = [aws_security_group.client.id]
  iam_instance_profile   = aws_iam_instance_profile.instance["client"].name

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = 20
    volume_type = "gp3"
    encrypted   = true
  }

  user_data = templatefile("${path.module}/templates/client-user-data.sh.tftpl", {
    region          = var.aws_region
    client_image    = var.client_image
    client_id       = local.client_ids[count.index]
    coordinator_url = local.coordinator_url
    mnist_s3_uri    = var.mnist_s3_uri
  })
  user_data_replace_on_change = true

  lifecycle {
    ignore_changes = [ami]
  }

  tags = { Name = "${local.name}-${local.client_ids[count.index]}", Role = "client" }
}
