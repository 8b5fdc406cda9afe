# want: `tags`: "bakery:principal" is the builder's own tag
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
  tags = {
    "bakery:principal" = "arn:aws:iam::123456789012:role/someone-else"
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
