# The seeds use case: during provisioning the instance reads a seed file
# from one S3 bucket and a token from one SSM parameter, with credentials
# from a temporary instance profile that exists only while the bake runs.
# Nothing else is allowed, and nothing IAM is left behind.
#
# On AWS: set seeds_bucket, seeds_parameter and account_id, drop the
# endpoint and ssh_host/ssh_port lines, and bake. The e2e tests run it
# against the offline test-bed with their own commands.
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

variable "seeds_bucket" {
  type    = string
  default = "example-seeds"
}

variable "seeds_parameter" {
  type    = string
  default = "/seeds/token"
}

variable "account_id" {
  type    = string
  default = "123456789012"
}

# The ARN of the temporary role's permissions boundary; "" for none.
variable "permissions_boundary" {
  type    = string
  default = ""
}

variable "commands" {
  type = list(string)
  default = [
    "aws s3 cp s3://example-seeds/seed.tar.gz /tmp/seed.tar.gz",
    "aws ssm get-parameter --name /seeds/token --with-decryption --query Parameter.Value --output text > /tmp/seed-token",
  ]
}

source "bakery-ebs" "seeds" {
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

  # A role, its inline policy and an instance profile, made for this bake
  # and removed after it (also after a failure or Ctrl-C).
  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${var.seeds_bucket}/*"]
    }
    Statement {
      Effect   = "Allow"
      Action   = ["ssm:GetParameter"]
      Resource = ["arn:aws:ssm:us-east-1:${var.account_id}:parameter${var.seeds_parameter}"]
    }
  }
  temporary_iam_role_permissions_boundary = var.permissions_boundary

  ami_name = var.ami_name
  run_tags = {
    Suite  = "e2e-iam"
    Source = "{{ .SourceAMI }}"
  }
}

build {
  sources = ["source.bakery-ebs.seeds"]

  provisioner "shell" {
    inline = var.commands
  }
}
