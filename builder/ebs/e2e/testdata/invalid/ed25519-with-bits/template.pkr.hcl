# want: `temporary_key_pair_bits` does not apply to ed25519 keys
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
  temporary_key_pair_type = "ed25519"
  temporary_key_pair_bits = 4096
}

build {
  sources = ["source.bakery-ebs.main"]
}
