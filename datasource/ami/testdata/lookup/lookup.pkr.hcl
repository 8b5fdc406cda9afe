# The data source's end-to-end template: look an AMI up, print what was
# found from a null build.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "aws_endpoint" {
  type = string
}

variable "name_filter" {
  type = string
}

data "bakery-ami" "base" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  filters = {
    name = var.name_filter
  }
  owners      = ["137112412989"]
  most_recent = true
}

source "null" "lookup" {
  communicator = "none"
}

build {
  sources = ["source.null.lookup"]

  provisioner "shell-local" {
    inline = [
      "echo found id=${data.bakery-ami.base.id} name=${data.bakery-ami.base.name} owner=${data.bakery-ami.base.owner} created=${data.bakery-ami.base.creation_date}",
    ]
  }
}
