# amazon-ebs's older spellings: tag blocks (a computed key in each),
# enable_t2_unlimited, no_ephemeral and spot_price_auto_product from
# templates of the Packer 1.4 era.
variable "team" {
  type    = string
  default = "platform"
}

source "amazon-ebs" "legacy" {
  region              = "us-east-1"
  source_ami          = "ami-0123456789abcdef0"
  instance_type       = "t2.micro"
  ssh_username        = "ec2-user"
  ami_name            = "legacy-{{timestamp}}"
  enable_t2_unlimited = true
  no_ephemeral        = true

  spot_price_auto_product = "Linux/UNIX (Amazon VPC)"

  tag {
    key   = "Team"
    value = var.team
  }
  tag {
    key   = "Name"
    value = "legacy"
  }
  run_tag {
    key   = "Name"
    value = "legacy-builder"
  }

  snapshot_tag {
    key   = "Team"
    value = var.team
  }
  run_volume_tag {
    name  = "Team"
    value = var.team
  }
}

build {
  sources = ["source.amazon-ebs.legacy"]
}
