# The benchmark bake with the stock plugins (amazon v1.8.2, ansible v1.1.2):
# the same AMI, instance, SSH target and playbook as ../ours. Direct mode
# (use_proxy = false): the stock proxy mode fails on the Amazon Linux
# sftp-server path (TESTBED-NOTES). No AMI/snapshot tags: the stock
# tagging step calls real AWS (TESTBED-NOTES), and run_tags make it send
# CreateImage a snapshot TagSpecification, which moto answers with HTTP 500.
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.8.2"
    }
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = "= 1.1.2"
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

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "ami_name" {
  type = string
}

variable "playbook" {
  type = string
}

variable "ansible_command" {
  type = string
}

source "amazon-ebs" "bench" {
  access_key                 = "AKIDBAKERYBENCH"
  secret_key                 = var.secret_key
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.aws_endpoint
  skip_credential_validation = true
  skip_region_validation     = true

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
  ssh_timeout  = "5m"

  ami_name = var.ami_name
}

build {
  sources = ["source.amazon-ebs.bench"]

  provisioner "ansible" {
    playbook_file = var.playbook
    command       = var.ansible_command
    use_proxy     = false
  }
}
