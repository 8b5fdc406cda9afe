# The ansible part: the provisioner alone (packer's null builder over SSH to the bed's
# sshd), against plain ansible-playbook to the same sshd.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
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

variable "use_mitogen" {
  type    = bool
  default = false
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

  provisioner "bakery-ansible" {
    playbook_file = var.playbook
    command       = var.ansible_command
    use_mitogen   = var.use_mitogen
  }
}
