# A bigger, encrypted root volume, copies to a second region with its own
# key, shared with another account.
source "amazon-ebs" "golden" {
  region        = "us-east-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.large"
  ssh_username  = "ec2-user"
  ami_name      = "golden-{{timestamp}}"

  encrypt_boot = true
  kms_key_id   = "alias/golden"
  ami_regions  = ["us-west-2"]
  region_kms_key_ids = {
    us-west-2 = "alias/golden"
  }
  ami_users = ["123456789012"]
  snapshot_tags = {
    Backup = "false"
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 30
    volume_type           = "gp3"
    delete_on_termination = true
  }
  ami_block_device_mappings {
    device_name = "/dev/xvdf"
    volume_size = 50
    volume_type = "gp3"
    encrypted   = true
  }
}

build {
  sources = ["source.amazon-ebs.golden"]
}
