# The newest Ubuntu image published by Canonical, picked at build time.
source "bakery-ebs" "ubuntu" {
  region = "eu-west-1"
  source_ami_filter {
    filters = {
      name                = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["099720109477"]
    most_recent = true
  }
  instance_type = "t3.small"
  ssh_username  = "ubuntu"
  ami_name      = "bakery-ubuntu-{{timestamp}}"
}

build {
  sources = ["source.bakery-ebs.ubuntu"]
}
