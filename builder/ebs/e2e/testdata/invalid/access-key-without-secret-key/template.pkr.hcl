# want: `access_key` and `secret_key` go together
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
  access_key    = "AKIAIOSFODNN7EXAMPLE"
}

build {
  sources = ["source.bakery-ebs.main"]
}
