# Credentials of a named profile, then a role in the target account.
source "bakery-ebs" "cross-account" {
  region  = "us-east-1"
  profile = "build"
  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/packer-build"
    session_name = "packer"
    external_id  = "bakery"
  }

  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-cross-account-{{timestamp}}"
}

build {
  sources = ["source.bakery-ebs.cross-account"]
}
