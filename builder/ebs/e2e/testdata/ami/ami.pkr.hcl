# The end-to-end template of what happens after CreateImage: copies,
# encryption, sharing and AMI attributes. Every option the test does not set
# is null, i.e. unset.
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

variable "ami_regions" {
  type    = list(string)
  default = null
}

variable "encrypt_boot" {
  type    = bool
  default = null
}

variable "kms_key_id" {
  type    = string
  default = null
}

variable "region_kms_key_ids" {
  type    = map(string)
  default = null
}

variable "ami_users" {
  type    = list(string)
  default = null
}

variable "ami_org_arns" {
  type    = list(string)
  default = null
}

variable "ami_ou_arns" {
  type    = list(string)
  default = null
}

variable "snapshot_users" {
  type    = list(string)
  default = null
}

variable "ena_support" {
  type    = bool
  default = null
}

variable "sriov_support" {
  type    = bool
  default = null
}

variable "imds_support" {
  type    = string
  default = null
}

variable "deprecate_at" {
  type    = string
  default = null
}

variable "skip_save_build_region" {
  type    = bool
  default = null
}

variable "keep_input_artifact" {
  type    = bool
  default = true
}

variable "skip_create_ami" {
  type    = bool
  default = null
}

source "bakery-ebs" "ami" {
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
  ssh_timeout  = "1m"

  ami_name        = var.ami_name
  ami_description = "bakery e2e copies"
  tags = {
    Name  = var.ami_name
    Suite = "e2e-ami"
  }
  snapshot_tags = {
    Suite    = "e2e-ami"
    Snapshot = "yes"
  }

  ami_regions            = var.ami_regions
  encrypt_boot           = var.encrypt_boot
  kms_key_id             = var.kms_key_id
  region_kms_key_ids     = var.region_kms_key_ids
  ami_users              = var.ami_users
  ami_org_arns           = var.ami_org_arns
  ami_ou_arns            = var.ami_ou_arns
  snapshot_users         = var.snapshot_users
  ena_support            = var.ena_support
  sriov_support          = var.sriov_support
  imds_support           = var.imds_support
  deprecate_at           = var.deprecate_at
  skip_save_build_region = var.skip_save_build_region
  skip_create_ami        = var.skip_create_ami
}

build {
  sources = ["source.bakery-ebs.ami"]

  provisioner "shell" {
    inline = var.commands
  }

  # keep_input_artifact = false makes packer call the AMI artifact's
  # Destroy (artifice, unlike shell-local, lets it).
  post-processor "artifice" {
    files               = ["${path.root}/ami.pkr.hcl"]
    keep_input_artifact = var.keep_input_artifact
  }
}
