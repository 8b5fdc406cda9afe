# want: `temporary_iam_role_permissions_boundary` only applies with `temporary_iam_instance_profile_policy_document`
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

  iam_instance_profile                    = "build-readers"
  temporary_iam_role_permissions_boundary = "arn:aws:iam::123456789012:policy/packer-bakery-boundary"
}

build {
  sources = ["source.bakery-ebs.main"]
}
