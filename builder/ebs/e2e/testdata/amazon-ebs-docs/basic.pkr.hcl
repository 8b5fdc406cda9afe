# The smallest useful bake: a fixed source AMI, a time-stamped AMI name, and
# a shell provisioner. amazon-ebs's docs open with this shape.
locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "bakery-ebs" "basic" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-basic-${local.stamp}"
}

build {
  sources = ["source.bakery-ebs.basic"]

  provisioner "shell" {
    inline = ["sudo yum -y update"]
  }
}
