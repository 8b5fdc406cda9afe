# want: `fleet_tags` only applies to a spot instance
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami    = "ami-0123456789abcdef0"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"
  instance_type = "t3.micro"
  fleet_tags = {
    team = "bakers"
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
