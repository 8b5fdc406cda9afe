# Bake an Amazon Linux 2023 AMI and configure it with Ansible:
#
#   AWS_PROFILE=packer-profile packer build example/ansible
#
# Ansible connects straight to the instance over SSH with the build's
# temporary key (no proxy), as the source's ssh_username.
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

variable "app_token" {
  type      = string
  sensitive = true
  default   = "change-me"
}

source "bakery-ebs" "al2023" {
  region = var.region

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

  ami_name = "bakery-ansible-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "bakery-ansible"
    ManagedBy = "packer"
  }
}

build {
  sources = ["source.bakery-ebs.al2023"]

  provisioner "bakery-ansible" {
    playbook_file = "${path.root}/playbook.yml"
    # Goes to the play through a 0600 file; never on the echoed command line.
    extra_vars = {
      app_token = var.app_token
    }
  }
}
