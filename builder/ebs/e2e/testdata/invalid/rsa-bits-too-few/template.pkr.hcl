# want: `temporary_key_pair_bits` 1024: use 2048 to 16384 for rsa
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami              = "ami-0123456789abcdef0"
  instance_type           = "t3.micro"
  ssh_username            = "ec2-user"
  ami_name                = "bakery-invalid"
  temporary_key_pair_type = "rsa"
  temporary_key_pair_bits = 1024
}

build {
  sources = ["source.bakery-ebs.main"]
}
