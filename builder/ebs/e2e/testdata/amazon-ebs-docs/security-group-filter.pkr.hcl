# Existing security groups chosen by tag; no temporary group is made.
source "bakery-ebs" "existing-groups" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-sg-{{timestamp}}"
  subnet_id     = "subnet-0123456789abcdef0"

  security_group_filter {
    filters = {
      "tag:Class" = "packer"
    }
  }
}

build {
  sources = ["source.bakery-ebs.existing-groups"]
}
