# The temporary security group admits SSH from this machine's public address
# only, not from everyone.
source "bakery-ebs" "my-ip-only" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-myip-{{timestamp}}"

  temporary_security_group_source_public_ip = true
}

build {
  sources = ["source.bakery-ebs.my-ip-only"]
}
