# A bigger gp3 root volume for the build, and a data volume in the AMI.
source "bakery-ebs" "volumes" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-volumes-{{timestamp}}"

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    delete_on_termination = true
  }
  ami_block_device_mappings {
    device_name           = "/dev/xvdb"
    volume_size           = 50
    volume_type           = "gp3"
    delete_on_termination = true
  }
  run_volume_tags = {
    Purpose = "packer build"
  }
}

build {
  sources = ["source.bakery-ebs.volumes"]
}
