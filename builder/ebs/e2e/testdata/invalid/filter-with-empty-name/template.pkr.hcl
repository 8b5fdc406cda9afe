# want: `source_ami_filter` has a filter with an empty name
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"

  source_ami_filter {
    filters = { "" = "amzn2-ami-hvm-*" }
    owners  = ["amazon"]
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
