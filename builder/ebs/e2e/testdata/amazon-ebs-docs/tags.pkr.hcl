# Tags on the AMI, its snapshots and the temporary build instance.
source "bakery-ebs" "tagged" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-tagged-{{timestamp}}"

  tags = {
    OS_Version = "Amazon Linux 2023"
    Release    = "Latest"
    Team       = "platform"
  }
  snapshot_tags = {
    Team = "platform"
  }
  run_tags = {
    Purpose = "packer build"
  }
}

build {
  sources = ["source.bakery-ebs.tagged"]
}
