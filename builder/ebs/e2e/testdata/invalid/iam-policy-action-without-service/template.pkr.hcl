# want: `temporary_iam_instance_profile_policy_document` Statement 1: `Action` "GetObject" is not service:Action
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
      Action   = ["GetObject"]
      Resource = ["arn:aws:s3:::seeds/*"]
    }
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
