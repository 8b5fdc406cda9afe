# Use this when the playbook uses roles or collections from Ansible Galaxy
# (or a Git server): they are listed in requirements.yml, and the
# provisioner runs one `ansible-galaxy install -r requirements.yml` on this
# machine before the play. They are installed into folders beside this
# template, so the build neither needs nor changes ~/.ansible, and a second
# build reuses what the first downloaded.
#
#   AWS_PROFILE=my-profile packer build example/ansible-galaxy
#
# Needs ansible-core (ansible-playbook and ansible-galaxy) on PATH, or set
# `command` and `galaxy_command` to a virtualenv's.
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

source "bakery-ebs" "web" {
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

  ami_name = "bakery-web-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "bakery-web"
    ManagedBy = "packer"
  }
}

build {
  sources = ["source.bakery-ebs.web"]

  provisioner "bakery-ansible" {
    playbook_file    = "${path.root}/playbook.yml"
    galaxy_file      = "${path.root}/requirements.yml"
    roles_path       = "${path.root}/.galaxy/roles"
    collections_path = "${path.root}/.galaxy/collections"
    # Reinstall when requirements.yml pins a new version of something
    # already downloaded.
    galaxy_force_install = true
  }
}
