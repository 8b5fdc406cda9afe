# A data source that assumes a role with an MFA code, feeding a builder of
# another plugin (here packer's null builder): no build of bakery follows,
# so no process of ours ends the run. The role's credentials the data
# source left for builds must not stay in TMPDIR.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "aws_endpoint" {
  type    = string
  default = null
}

variable "ssh_host" {
  type = string
}

variable "ssh_port" {
  type = number
}

variable "ami_name" {
  type = string
}

variable "endpoint" {
  type = string
}

variable "region" {
  type = string
}

variable "access_key" {
  type    = string
  default = null
}

variable "secret_key" {
  type      = string
  default   = null
  sensitive = true
}

variable "profile" {
  type    = string
  default = null
}

variable "assume_role_arn" {
  type    = string
  default = null
}

variable "mfa_serial" {
  type    = string
  default = null
}

variable "mfa_code" {
  type      = string
  sensitive = true
}

data "bakery-ami" "base" {
  access_key          = var.access_key
  secret_key          = var.secret_key
  region              = var.region
  mfa_code            = var.mfa_code
  custom_endpoint_ec2 = var.endpoint
  custom_endpoint_sts = var.endpoint
  profile             = var.profile
  # Data sources take no dynamic blocks: all null is no assume_role.
  assume_role {
    role_arn     = var.assume_role_arn
    mfa_serial   = var.mfa_serial
    session_name = var.assume_role_arn == null ? null : "bakery-e2e-mfa"
  }
  filters = {
    name = "amzn2-ami-hvm-*-x86_64-gp2"
  }
  owners      = ["137112412989"]
  most_recent = true
}

source "null" "other" {
  communicator = "none"
}

build {
  sources = ["source.null.other"]
  provisioner "shell-local" {
    inline = ["echo base image ${data.bakery-ami.base.id}"]
  }
}
