# want: `ami_block_device_mappings` /dev/xvda: `throughput` 2000: gp3 takes 125 to 1000 MiB/s
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

  ami_block_device_mappings {
    device_name = "/dev/xvda"
    volume_type = "gp3"
    throughput  = 2000
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
