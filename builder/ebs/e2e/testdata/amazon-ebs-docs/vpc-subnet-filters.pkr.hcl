# The VPC and subnet chosen by tags instead of IDs: the build VPC, and of its
# subnets tagged for builds, the one with the most free addresses.
source "bakery-ebs" "in-build-vpc" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-vpc-{{timestamp}}"

  vpc_filter {
    filters = {
      "tag:Class"  = "build"
      "is-default" = "false"
    }
  }
  subnet_filter {
    filters = {
      "tag:Class" = "build"
    }
    most_free = true
  }
  associate_public_ip_address = true
}

build {
  sources = ["source.bakery-ebs.in-build-vpc"]
}
