# want: `ami_description` is longer than EC2's limit of 255 characters
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami      = "ami-0123456789abcdef0"
  instance_type   = "t3.micro"
  ssh_username    = "ec2-user"
  ami_name        = "bakery-invalid"
  ami_description = join(" ", [for i in range(60) : "baked"])
}

build {
  sources = ["source.bakery-ebs.main"]
}
