# The spot end-to-end tests' template: one bake whose build instance is a
# spot instance launched through a launch template and an EC2 Fleet.
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

variable "spot_price" {
  type    = string
  default = "auto"
}

source "bakery-ebs" "spot" {
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

  spot_price               = var.spot_price
  spot_instance_types      = ["t3.micro", "t3a.micro"]
  spot_allocation_strategy = "price-capacity-optimized"
  spot_tags = {
    SpotTag    = "spot-e2e"
    SpotSource = "{{ .SourceAMI }}"
  }
  fleet_tags = {
    FleetTag    = "fleet-e2e"
    FleetSource = "{{ .SourceAMI }}"
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
  sources = ["source.bakery-ebs.spot"]

  provisioner "shell" {
    inline = var.commands
  }
}
