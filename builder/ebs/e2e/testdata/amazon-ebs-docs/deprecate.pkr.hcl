# An AMI that deprecates itself after a year.
source "bakery-ebs" "expiring" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-expiring-{{timestamp}}"
  deprecate_at  = timeadd(timestamp(), "8760h")
}

build {
  sources = ["source.bakery-ebs.expiring"]
}
