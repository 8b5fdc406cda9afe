# The tunnel e2e tests' template: bakery-ebs reaches the "instance" (the
# bed's sshd, which admits only the tunnel stand-ins' address) through
# `ssh_interface`, and bakery-ansible runs a play over the same tunnel.
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

variable "ssh_port" {
  type = number
}

variable "ssh_interface" {
  type = string
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

variable "playbook" {
  type = string
}

variable "ansible_command" {
  type = string
}

variable "marker" {
  type = string
}

variable "ami_test" {
  type    = list(string)
  default = []
}

# late_pause delays a second shell provisioner: with an endpoint tunnel
# shorter than the pause, Packer's SSH connection has been cut by then.
variable "late_pause" {
  type    = string
  default = "0s"
}

variable "ssh_timeout" {
  type    = string
  default = "1m"
}

source "bakery-ebs" "e2e" {
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

  ssh_interface = var.ssh_interface
  ssh_username  = "ec2-user"
  ssh_port      = var.ssh_port
  ssh_timeout   = var.ssh_timeout

  ami_name = var.ami_name

  ami_test {
    inline = var.ami_test
  }
}

build {
  sources = ["source.bakery-ebs.e2e"]

  provisioner "shell" {
    inline = ["echo shell-over-the-tunnel > ~/bakery-${var.marker}-shell"]
  }

  provisioner "shell" {
    pause_before = var.late_pause
    inline       = ["echo late-shell > ~/bakery-${var.marker}-late"]
  }

  provisioner "bakery-ansible" {
    playbook_file   = var.playbook
    command         = var.ansible_command
    extra_arguments = ["--forks", "5"]
    extra_vars = {
      marker = var.marker
    }
  }
}
