# want: `iam_instance_profile` "arn:aws:iam::123456789012:instance-profile/build-readers" is an ARN: give the instance profile's name ("build-readers")
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint
  custom_endpoint_iam = var.aws_endpoint

  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"

  iam_instance_profile = "arn:aws:iam::123456789012:instance-profile/build-readers"
}

build {
  sources = ["source.bakery-ebs.main"]
}
