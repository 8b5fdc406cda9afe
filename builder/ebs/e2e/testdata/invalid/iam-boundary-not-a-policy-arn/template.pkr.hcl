# want: `temporary_iam_role_permissions_boundary` "packer-bakery-boundary" is not the ARN of a managed policy
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint
  custom_endpoint_iam = var.aws_endpoint

  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"

  temporary_iam_instance_profile_policy_document {
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::seeds/*"]
    }
  }
  temporary_iam_role_permissions_boundary = "packer-bakery-boundary"
}

build {
  sources = ["source.bakery-ebs.main"]
}
