# Use this on your own machine: the build signs in with a named profile of
# your AWS CLI configuration (~/.aws/config, ~/.aws/credentials), which may
# hold keys, an SSO session or a role to assume. Nothing secret is in the
# template.
#
#   packer build -var aws_profile=my-profile example/developer-profile
#
# The first line of the build names the profile, account and caller ARN it
# used, so a wrong profile shows before anything is created.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "aws_profile" {
  type        = string
  default     = "default"
  description = "The AWS CLI profile to sign in with."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

source "bakery-ebs" "al2023" {
  profile = var.aws_profile
  region  = var.region

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

  ami_name = "bakery-dev-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "bakery-dev"
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
