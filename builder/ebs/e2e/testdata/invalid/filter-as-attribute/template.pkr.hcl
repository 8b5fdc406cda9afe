# want: An argument named "source_ami_filter" is not expected here. Did you mean to define a block of type "source_ami_filter"?
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  instance_type     = "t3.micro"
  ssh_username      = "ec2-user"
  ami_name          = "bakery-invalid"
  source_ami_filter = { owners = ["amazon"] }
}

build {
  sources = ["source.bakery-ebs.main"]
}
