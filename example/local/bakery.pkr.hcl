# The offline demo: bakes an AMI against the project's test-bed (moto for
# EC2/STS/IAM, a local sshd as the "instance"), provisioned by Ansible over
# SSH with bakery-ansible. `make demo` runs it with the variables below
# set; against real AWS start from ../developer-profile instead.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "aws_endpoint" {
  type        = string
  description = "URL of the EC2/STS/IAM API (the test-bed's emulator)."
}

variable "ssh_host" {
  type        = string
  default     = "127.0.0.1"
  description = "Where the build instance's SSH server answers (the test-bed's sshd)."
}

variable "ssh_port" {
  type        = number
  description = "Port of the build instance's SSH server."
}

variable "ansible_playbook" {
  type        = string
  default     = "ansible-playbook"
  description = "The ansible-playbook to run (make demo uses the test-bed's pinned ansible-core)."
}

variable "manifest" {
  type        = string
  default     = "packer-manifest.json"
  description = "Where Packer's manifest post-processor records the AMI ID."
}

locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "bakery-ebs" "demo" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint
  custom_endpoint_iam = var.aws_endpoint

  source_ami_filter {
    filters = {
      name                = "amzn2-ami-hvm-*-x86_64-gp2"
      virtualization-type = "hvm"
    }
    owners      = ["137112412989"]
    most_recent = true
  }
  instance_type = "t3.micro"

  ssh_username = "ec2-user"
  ssh_host     = var.ssh_host
  ssh_port     = var.ssh_port

  ami_name        = "bakery-demo-${local.stamp}"
  ami_description = "Baked by packer-plugin-bakery's offline demo"
  tags = {
    Name    = "bakery-demo"
    Project = "packer-plugin-bakery"
  }
  snapshot_tags = {
    Project = "packer-plugin-bakery"
  }
}

build {
  sources = ["source.bakery-ebs.demo"]

  provisioner "bakery-ansible" {
    playbook_file = "${path.root}/playbook.yml"
    command       = var.ansible_playbook
    extra_vars = {
      baked_by = "bakery-ansible"
    }
  }

  post-processor "manifest" {
    output = var.manifest
  }
}
