# Use this for a release pipeline: bake the AMI, boot it once and check it
# (ami_test), copy it to a second region, publish its ID to SSM Parameter Store in both regions (where
# launch templates read it with resolve:ssm:/my-app/ami/latest), and retire
# the family's old AMIs: keep the newest 3 and anything younger than 30
# days, never one an instance or a launch template still uses.
#
#   packer build example/release
#   packer build -var retire_dry_run=true example/release   # list, change nothing
#
# docs/releasing.md walks through each stage.
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

variable "copy_region" {
  type    = string
  default = "us-west-2"
}

variable "family" {
  type    = string
  default = "my-app"
}

variable "retire_dry_run" {
  type    = bool
  default = false
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

  ami_name    = "${var.family}-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  ami_regions = [var.copy_region]
  tags = {
    Name   = var.family
    Family = var.family
  }

  # A failing check removes the AMI before it is copied or published:
  # the commands first, then the playbook (run by bakery-ansible, whose
  # options the `ansible` block takes).
  ami_test {
    inline = ["systemctl is-active sshd", "test -s /etc/os-release"]
    ansible {
      playbook_file = "${path.root}/ami-test.yml"
    }
  }
}

build {
  sources = ["source.bakery-ebs.app"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade --refresh"]
  }

  # One chain: each post-processor gets the bake's AMIs (region → AMI).
  post-processors {
    post-processor "bakery-ssm-parameter" {
      region         = var.region
      parameter_name = "/${var.family}/ami/latest"
      description    = "The newest ${var.family} AMI"
      overwrite      = true
      tags = {
        Family = var.family
      }
    }

    post-processor "bakery-retire" {
      region = var.region
      tags = {
        Family = var.family
      }
      keep_releases = 3
      keep_days     = 30
      dry_run       = var.retire_dry_run
    }
  }
}
