# An existing instance profile for the build instance.
source "bakery-ebs" "existing-profile" {
  region               = "us-east-1"
  source_ami           = "ami-0abcdef1234567890"
  instance_type        = "t3.micro"
  ssh_username         = "ec2-user"
  ami_name             = "bakery-existing-profile-{{timestamp}}"
  iam_instance_profile = "packer-build"
}

build {
  sources = ["source.bakery-ebs.existing-profile"]
}
