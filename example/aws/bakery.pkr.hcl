# Bake an Amazon Linux 2023 AMI in your AWS account. Credentials come from
# wherever the AWS CLI finds them; with a named profile:
#
#   AWS_PROFILE=packer-profile packer build example/aws
#
# or set `profile` below.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

source "bakery-ebs" "al2023" {
  region = var.region
  # profile = "packer-profile"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"

  ami_name = "bakery-al2023-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "bakery-al2023"
    BaseAMI   = "al2023"
    ManagedBy = "packer"
  }
  run_tags = {
    Purpose = "packer-build"
  }
}

build {
  sources = ["source.bakery-ebs.al2023"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade --refresh"]
  }
}
