# Use this when provisioning must read from AWS: an artifact from S3, a
# setting or secret from SSM Parameter Store. The build instance gets a
# temporary instance profile whose policy allows exactly that, made for this
# build and removed when it ends (also after a failure or Ctrl-C), so no
# credentials are copied onto the instance and none stay in the AMI.
#
#   packer-plugin-bakery iam-policy -boundary -var artifact_bucket=my-artifacts \
#     -o boundary.json example/instance-profile-s3-ssm
#   aws iam create-policy --policy-name packer-bakery-app-boundary --policy-document file://boundary.json
#   packer build -var artifact_bucket=my-artifacts \
#     -var role_boundary=arn:aws:iam::123456789012:policy/packer-bakery-app-boundary example/instance-profile-s3-ssm
#
# packer's own credentials need the IAM permissions to create and delete
# the role and instance profile and to pass the role (iam:PassRole);
# `packer-plugin-bakery iam-policy example/instance-profile-s3-ssm` writes
# the policy this template needs. The role is created with the permissions
# boundary made above (the same document): those credentials may create
# roles only with it, so they can never make a more powerful one.
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

variable "artifact_bucket" {
  type        = string
  description = "The S3 bucket holding the application's release archive."
}

variable "role_boundary" {
  type        = string
  description = "The ARN of the temporary role's permissions boundary: create it from `packer-plugin-bakery iam-policy -boundary` (docs/iam-policy.md)."
}

variable "artifact_key" {
  type    = string
  default = "app/release.tar.gz"
}

variable "parameter_path" {
  type        = string
  default     = "/app/prod"
  description = "The SSM Parameter Store path the application's settings live under."
}

data "bakery-ami" "al2023" {
  region = var.region
  filters = {
    name                = "al2023-ami-2023.*-x86_64"
    virtualization-type = "hvm"
  }
  owners      = ["amazon"]
  most_recent = true
}

source "bakery-ebs" "app" {
  region        = var.region
  source_ami    = data.bakery-ami.al2023.id
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"

  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${var.artifact_bucket}/${var.artifact_key}"]
    }
    # SecureString parameters encrypted with the default aws/ssm key need
    # nothing more; with a key of your own, also allow kms:Decrypt on it.
    Statement {
      Effect   = "Allow"
      Action   = ["ssm:GetParametersByPath"]
      Resource = ["arn:aws:ssm:${var.region}:*:parameter${var.parameter_path}"]
    }
  }
  temporary_iam_role_permissions_boundary = var.role_boundary

  ami_name = "app-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "app"
    ManagedBy = "packer"
  }
}

build {
  sources = ["source.bakery-ebs.app"]

  provisioner "shell" {
    environment_vars = [
      "BUCKET=${var.artifact_bucket}",
      "KEY=${var.artifact_key}",
      "PARAMS=${var.parameter_path}",
    ]
    inline = [
      "set -eu",
      "aws s3 cp \"s3://$BUCKET/$KEY\" /tmp/release.tar.gz",
      "sudo mkdir -p /opt/app && sudo tar -xzf /tmp/release.tar.gz -C /opt/app && rm /tmp/release.tar.gz",
      # Settings go into the image; secrets should be read at boot instead.
      "aws ssm get-parameters-by-path --path \"$PARAMS\" --query 'Parameters[].[Name,Value]' --output text | sudo tee /opt/app/settings.tsv >/dev/null",
    ]
  }
}
