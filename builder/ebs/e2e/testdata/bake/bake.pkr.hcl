# The end-to-end tests' template: one bake against the test-bed, with the
# provisioner's commands, the AMI name and the credentials given by the test.
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

variable "force_delete_snapshot" {
  type    = bool
  default = false
}

variable "ssh_timeout" {
  type    = string
  default = "1m"
}

variable "ami_test_commands" {
  type    = list(string)
  default = null
}

source "bakery-ebs" "e2e" {
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
  instance_type = "t3.micro"

  ssh_username = "ec2-user"
  ssh_host     = var.ssh_host
  ssh_port     = var.ssh_port
  ssh_timeout  = var.ssh_timeout

  ami_name              = var.ami_name
  ami_description       = "bakery e2e"
  force_delete_snapshot = var.force_delete_snapshot
  tags = {
    Name  = var.ami_name
    Suite = "e2e"
  }
  run_tags = {
    Suite = "e2e"
  }
  snapshot_tags = {
    Suite    = "e2e"
    Snapshot = "yes"
  }
  ami_test {
    inline = var.ami_test_commands
  }
}

build {
  sources = ["source.bakery-ebs.e2e"]

  provisioner "shell" {
    inline = var.commands
  }
}
