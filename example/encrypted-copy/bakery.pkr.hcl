# Use this for an AMI that must be encrypted with your own KMS keys and be
# available in a second region (disaster recovery, a second market). The
# image is made, copied encrypted under `ami_name` with `kms_key_id` in the
# build region, then copied to `copy_region` encrypted with that region's
# key; the unencrypted intermediate image is removed. A failed build removes
# every copy it made, in every region.
#
#   packer build \
#     -var kms_key_id=alias/images -var copy_kms_key_id=alias/images \
#     example/encrypted-copy
#
# Both keys must let packer's credentials use them (kms:CreateGrant,
# kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*,
# kms:DescribeKey).
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "kms_key_id" {
  type        = string
  description = "The KMS key (ID, alias/NAME or ARN) for the AMI in the build region."
}

variable "copy_region" {
  type    = string
  default = "us-west-2"
}

variable "copy_kms_key_id" {
  type        = string
  description = "The KMS key for the copy in copy_region."
}

source "bakery-ebs" "app" {
  region = var.region

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"

  encrypt_boot = true
  kms_key_id   = var.kms_key_id
  ami_regions  = [var.copy_region]
  region_kms_key_ids = {
    (var.copy_region) = var.copy_kms_key_id
  }

  ami_name = "app-encrypted-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "app"
    ManagedBy = "packer"
  }
  snapshot_tags = {
    Name = "app"
  }
}

build {
  sources = ["source.bakery-ebs.app"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade --refresh"]
  }
}
