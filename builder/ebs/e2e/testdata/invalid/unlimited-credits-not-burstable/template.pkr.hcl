# want: `enable_unlimited_credits` only applies to burstable instance types (t2, t3, t3a, t4g), not "m5.large"
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami    = "ami-0123456789abcdef0"
  instance_type = "m5.large"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"

  enable_unlimited_credits = true
}

build {
  sources = ["source.bakery-ebs.main"]
}
