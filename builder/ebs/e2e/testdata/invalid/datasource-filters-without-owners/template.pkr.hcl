# want: `bakery-ami` needs `owners`
variable "aws_endpoint" {
  type = string
}

data "bakery-ami" "base" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  filters     = { name = "amzn2-ami-hvm-*-x86_64-gp2" }
  most_recent = true
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami    = data.bakery-ami.base.id
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"
}

build {
  sources = ["source.bakery-ebs.main"]
}
