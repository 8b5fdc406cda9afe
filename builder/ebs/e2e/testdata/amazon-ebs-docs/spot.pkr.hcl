# The build instance on the Spot market, from the cheapest of several types.
source "bakery-ebs" "spot" {
  region              = "us-east-1"
  source_ami          = "ami-0abcdef1234567890"
  spot_instance_types = ["t3.small", "t3a.small", "t2.small"]
  spot_price          = "auto"
  spot_tags = {
    Purpose = "packer build"
  }
  fleet_tags = {
    Purpose = "packer build"
  }
  ssh_username = "ec2-user"
  ami_name     = "bakery-spot-{{timestamp}}"
}

build {
  sources = ["source.bakery-ebs.spot"]
}
