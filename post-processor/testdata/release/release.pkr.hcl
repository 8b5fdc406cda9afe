# The end-to-end template of a release: bake, test the AMI (with
# test_commands and test_playbook), copy to a second region, publish the AMI IDs to SSM,
# retire the family's old AMIs.
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

variable "ssh_host" {
  type = string
}

variable "ssh_port" {
  type = number
}

variable "access_key" {
  type = string
}

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "ami_name" {
  type = string
}

variable "family" {
  type = string
}

variable "parameter" {
  type = string
}

variable "overwrite" {
  type    = bool
  default = false
}

variable "keep_releases" {
  type    = number
  default = 2
}

variable "dry_run" {
  type    = bool
  default = false
}

variable "deprecate" {
  type    = bool
  default = false
}

variable "test_commands" {
  type    = list(string)
  default = null
}

# With a playbook, the AMI test runs it after the commands (bakery-ansible,
# with the bed's ansible-playbook `ansible_command`).
variable "test_playbook" {
  type    = string
  default = null
}

variable "ansible_command" {
  type    = string
  default = "ansible-playbook"
}

source "bakery-ebs" "release" {
  access_key          = var.access_key
  secret_key          = var.secret_key
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint
  custom_endpoint_iam = var.aws_endpoint

  source_ami_filter {
    filters = {
      name = "amzn2-ami-hvm-*-x86_64-gp2"
    }
    owners      = ["137112412989"]
    most_recent = true
  }
  instance_type = "t3.micro"

  ssh_username = "ec2-user"
  ssh_host     = var.ssh_host
  ssh_port     = var.ssh_port
  ssh_timeout  = "1m"

  ami_name    = var.ami_name
  ami_regions = ["eu-west-1"]
  ami_test {
    inline = var.test_commands
    dynamic "ansible" {
      for_each = var.test_playbook == null ? [] : [var.test_playbook]
      content {
        playbook_file = ansible.value
        command       = var.ansible_command
      }
    }
  }
  tags = {
    Name   = var.ami_name
    Family = var.family
  }
}

build {
  sources = ["source.bakery-ebs.release"]

  provisioner "shell" {
    inline = ["echo baked"]
  }

  post-processors {
    post-processor "bakery-ssm-parameter" {
      access_key          = var.access_key
      secret_key          = var.secret_key
      custom_endpoint_sts = var.aws_endpoint
      parameter_name      = var.parameter
      description         = "the newest ${var.family} AMI"
      overwrite           = var.overwrite
      tags = {
        Family = var.family
      }
    }

    post-processor "bakery-retire" {
      access_key          = var.access_key
      secret_key          = var.secret_key
      custom_endpoint_ec2 = var.aws_endpoint
      custom_endpoint_sts = var.aws_endpoint
      tags = {
        Family = var.family
      }
      keep_releases = var.keep_releases
      dry_run       = var.dry_run
      deprecate     = var.deprecate
    }
  }
}
