# The AMI and its snapshots shared with two accounts and an organisation.
source "bakery-ebs" "shared" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-shared-{{timestamp}}"

  ami_users      = ["111122223333", "444455556666"]
  snapshot_users = ["111122223333", "444455556666"]
  ami_org_arns   = ["arn:aws:organizations::123456789012:organization/o-exampleorgid"]
}

build {
  sources = ["source.bakery-ebs.shared"]
}
