# want: `source_ami` "amzn2-ami-hvm-2.0.20240131.0-x86_64-gp2" is not an AMI ID
# want: use `source_ami_filter`
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami    = "amzn2-ami-hvm-2.0.20240131.0-x86_64-gp2"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"
}

build {
  sources = ["source.bakery-ebs.main"]
}
