# A team key pair instead of a temporary one, a private subnet picked by tag,
# and an instance profile for the provisioning.
source "amazon-ebs" "private" {
  region               = "us-east-1"
  source_ami           = "ami-0123456789abcdef0"
  instance_type        = "m5.large"
  ssh_username         = "ec2-user"
  ssh_keypair_name     = "team-builder"
  ssh_private_key_file = "${path.root}/builder.pem"
  ssh_interface        = "private_ip"
  iam_instance_profile = "packer-builder"
  ami_name             = "private-{{timestamp}}"

  subnet_filter {
    filters = {
      "tag:Tier" = "private"
    }
    most_free = true
    random    = false
  }
}

build {
  sources = ["source.amazon-ebs.private"]

  provisioner "ansible" {
    playbook_file = "${path.root}/../playbook.yml"
    user          = "ec2-user"
  }
}
