# want: `skip_ami_run_tags` is not supported by bakery-ebs: bakery-ebs never copies `run_tags` to the AMI, which `false` asks for
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

  skip_ami_run_tags = false
}

build {
  sources = ["source.bakery-ebs.main"]
}
