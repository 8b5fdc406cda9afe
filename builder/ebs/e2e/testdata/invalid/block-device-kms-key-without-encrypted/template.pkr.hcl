# want: `launch_block_device_mappings` /dev/sdf: `kms_key_id` only applies to encrypted volumes: set `encrypted = true`
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
    device_name = "/dev/sdf"
    volume_size = 10
    kms_key_id  = "alias/ebs"
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
