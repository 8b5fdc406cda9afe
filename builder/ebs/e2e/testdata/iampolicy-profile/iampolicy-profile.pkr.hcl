# The IAM proof's template with a temporary instance profile, as an IAM user
# holding exactly the policy `packer-plugin-bakery iam-policy` writes for it.
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

# The temporary role's permissions boundary: the proof creates this policy
# in the emulator from `iam-policy -boundary`'s output before the build.
variable "boundary" {
  type    = string
  default = "arn:aws:iam::123456789012:policy/bakery-proof-boundary"
}

variable "ami_name" {
  type    = string
  default = "bakery-iam-proof"
}

source "bakery-ebs" "profile" {
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

  ami_name = var.ami_name
  tags = {
    Name = var.ami_name
  }
  snapshot_tags = {
    Proof = "iam"
  }

  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::bakery-proof/*"]
    }
  }
  temporary_iam_role_permissions_boundary = var.boundary
}

build {
  sources = ["source.bakery-ebs.profile"]

  provisioner "shell" {
    inline = ["echo baked as a least-privilege user"]
  }
}
