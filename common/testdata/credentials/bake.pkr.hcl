# The credential e2e tests' template: one small bake whose access options
# are all variables. A null variable leaves its option unset, so each test
# case sets only what its credential source needs.
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

# Template endpoints; null to test AWS_ENDPOINT_URL* and profile endpoint_url.
variable "endpoint" {
  type    = string
  default = null
}

variable "region" {
  type    = string
  default = null
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

variable "token" {
  type      = string
  default   = null
  sensitive = true
}

variable "profile" {
  type    = string
  default = null
}

variable "shared_credentials_file" {
  type    = string
  default = null
}

variable "shared_config_file" {
  type    = string
  default = null
}

variable "assume_role_arn" {
  type    = string
  default = null
}

variable "mfa_code" {
  type      = string
  default   = null
  sensitive = true
}

variable "skip_metadata_api_check" {
  type    = bool
  default = false
}

source "bakery-ebs" "credentials" {
  access_key              = var.access_key
  secret_key              = var.secret_key
  token                   = var.token
  profile                 = var.profile
  shared_credentials_file = var.shared_credentials_file
  shared_config_file      = var.shared_config_file
  region                  = var.region
  mfa_code                = var.mfa_code
  skip_metadata_api_check = var.skip_metadata_api_check
  custom_endpoint_ec2     = var.endpoint
  custom_endpoint_sts     = var.endpoint
  custom_endpoint_iam     = var.endpoint

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "bakery-e2e-template"
    }
  }

  source_ami_filter {
    filters = {
      name = "amzn2-ami-hvm-*-x86_64-gp2"
    }
    owners      = ["137112412989"]
    most_recent = true
  }
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ssh_host      = var.ssh_host
  ssh_port      = var.ssh_port
  ssh_timeout   = "1m"
  ami_name      = var.ami_name
}

build {
  sources = ["source.bakery-ebs.credentials"]
}
