# want: Blocks of type "source_ami_filters" are not expected here. Did you mean "source_ami_filter"?
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

  source_ami_filters {
    filters = { name = "amzn2-ami-hvm-*-x86_64-gp2" }
    owners  = ["amazon"]
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
