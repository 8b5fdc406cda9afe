# A spot bake with the instance options: what the launch template holds is
# checked in the CreateLaunchTemplate request (moto drops most of it).
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "aws_endpoint" {
  type = string
}

variable "ssh_host" {
  type = string
}

variable "ssh_port" {
  type = number
}

variable "access_key" {
  type = string
}

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "ami_name" {
  type = string
}

variable "commands" {
  type = list(string)
}

variable "root_device" {
  type = string
}

source "bakery-ebs" "spot-options" {
  access_key          = var.access_key
  secret_key          = var.secret_key
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint
  custom_endpoint_iam = var.aws_endpoint

  source_ami_filter {
    filters = {
      name = "amzn2-ami-hvm-*-x86_64-gp2"
    }
    owners      = ["137112412989"]
    most_recent = true
  }

  spot_price    = "0.05"
  instance_type = "t3.micro"
  spot_tags = {
    SpotTag = "spot-e2e"
  }
  fleet_tags = {
    FleetTag = "fleet-e2e"
  }

  user_data = "#!/bin/sh\necho spot-user-data\n"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "enabled"
  }
  ebs_optimized               = true
  enable_unlimited_credits    = true
  shutdown_behavior           = "terminate"
  associate_public_ip_address = true
  placement {
    tenancy = "dedicated"
  }
  launch_block_device_mappings {
    device_name = var.root_device
    volume_size = 20
    volume_type = "gp3"
    iops        = 4000
    throughput  = 250
  }
  run_volume_tags = {
    Disk = "spot-volume"
  }

  ssh_username = "ec2-user"
  ssh_host     = var.ssh_host
  ssh_port     = var.ssh_port
  ssh_timeout  = "1m"

  ami_name = var.ami_name
  tags = {
    Name = var.ami_name
  }
  run_tags = {
    Suite = "spot-e2e"
  }
}

build {
  sources = ["source.bakery-ebs.spot-options"]

  provisioner "shell" {
    inline = var.commands
  }
}
