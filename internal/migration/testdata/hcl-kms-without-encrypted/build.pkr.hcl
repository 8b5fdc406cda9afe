# A data volume with a KMS key but without `encrypted = true`.
source "amazon-ebs" "data" {
  region        = "us-east-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "data-{{timestamp}}"

  launch_block_device_mappings {
    device_name = "/dev/xvdf"
    volume_size = 10
    kms_key_id  = "alias/data"
  }
}

build {
  sources = ["source.amazon-ebs.data"]
}
