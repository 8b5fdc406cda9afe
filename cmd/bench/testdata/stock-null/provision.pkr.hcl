# The ansible part: the stock ansible provisioner alone (null builder), direct mode.
packer {
  required_plugins {
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = "= 1.1.2"
    }
  }
}

variable "ssh_host" {
  type = string
}

variable "ssh_port" {
  type = number
}

variable "ssh_key" {
  type = string
}

variable "playbook" {
  type = string
}

variable "ansible_command" {
  type = string
}

source "null" "bench" {
  communicator         = "ssh"
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_username         = "ec2-user"
  ssh_private_key_file = var.ssh_key
}

build {
  sources = ["source.null.bench"]

  provisioner "ansible" {
    playbook_file = var.playbook
    command       = var.ansible_command
    use_proxy     = false
  }
}
