# want: `session_manager_port` is not supported by bakery-ebs: the Session Manager tunnel
# want: `pause_before_ssm` is not supported by bakery-ebs
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

  session_manager_port = 822
  pause_before_ssm     = "30s"
}

build {
  sources = ["source.bakery-ebs.main"]
}
