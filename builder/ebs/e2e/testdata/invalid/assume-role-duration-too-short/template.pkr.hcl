# want: `assume_role { duration_seconds }` is 600: it must be between 900 and 43200
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"

  assume_role {
    role_arn         = "arn:aws:iam::123456789012:role/packer"
    duration_seconds = 600
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
