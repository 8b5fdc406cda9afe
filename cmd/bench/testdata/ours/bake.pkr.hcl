# The benchmark bake with this project's plugin: the same AMI, instance,
# SSH target and playbook as ../stock, option for option.
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

variable "use_mitogen" {
  type    = bool
  default = false
}

source "bakery-ebs" "bench" {
  access_key          = "AKIDBAKERYBENCH"
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
  ssh_timeout  = "5m"

  ami_name = var.ami_name
}

build {
  sources = ["source.bakery-ebs.bench"]

  provisioner "bakery-ansible" {
    playbook_file = var.playbook
    command       = var.ansible_command
    use_mitogen   = var.use_mitogen
  }
}
