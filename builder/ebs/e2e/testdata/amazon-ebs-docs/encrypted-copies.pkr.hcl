# An encrypted AMI, copied to two more regions with a key per region.
source "bakery-ebs" "encrypted" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-encrypted-{{timestamp}}"

  encrypt_boot = true
  kms_key_id   = "alias/ami-us-east-1"
  ami_regions  = ["eu-west-1", "ap-southeast-2"]
  region_kms_key_ids = {
    "eu-west-1"      = "alias/ami-eu-west-1"
    "ap-southeast-2" = "alias/ami-ap-southeast-2"
  }
}

build {
  sources = ["source.bakery-ebs.encrypted"]
}
