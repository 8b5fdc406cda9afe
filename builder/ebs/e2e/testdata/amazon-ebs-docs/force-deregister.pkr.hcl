# A fixed AMI name, replaced on every build along with its snapshots.
source "bakery-ebs" "nightly" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-nightly"

  force_deregister      = true
  force_delete_snapshot = true
}

build {
  sources = ["source.bakery-ebs.nightly"]
}
