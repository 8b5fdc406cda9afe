# The most common shape: an Amazon Linux filter, a timestamped name, and the
# stock ansible provisioner in direct mode with the scp -O workaround.
packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
    ansible = {
      version = "~> 1"
      source  = "github.com/hashicorp/ansible"
    }
  }
}

locals {
  stamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "app" {
  region        = "us-east-1"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "app-${local.stamp}"

  source_ami_filter {
    filters = {
      name                = "amzn2-ami-hvm-*-x86_64-gp2"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["137112412989"]
    most_recent = true
  }

  tags = {
    Name      = "app"
    BaseImage = "{{ .SourceAMIName }}"
  }
  run_tags = {
    Name = "packer-app-builder"
  }
}

build {
  sources = ["source.amazon-ebs.app"]

  provisioner "ansible" {
    playbook_file    = "${path.root}/../playbook.yml"
    user             = "ec2-user"
    use_proxy        = false
    ansible_env_vars = ["ANSIBLE_HOST_KEY_CHECKING=False"]
    extra_arguments  = ["--scp-extra-args", "'-O'", "-e", "app_env=prod"]
  }
}
