# want: `launch_block_device_mappings` /dev/xvda: `iops` only applies to io1, io2 and gp3 volumes, not gp2
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

  launch_block_device_mappings {
    device_name = "/dev/xvda"
    volume_type = "gp2"
    volume_size = 20
    iops        = 3000
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
