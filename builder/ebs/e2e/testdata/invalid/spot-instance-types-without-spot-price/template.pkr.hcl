# want: `spot_instance_types` only applies to a spot instance: set `spot_price`
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami          = "ami-0123456789abcdef0"
  ssh_username        = "ec2-user"
  ami_name            = "bakery-invalid"
  spot_instance_types = ["t3.micro", "t3a.micro"]
}

build {
  sources = ["source.bakery-ebs.main"]
}
