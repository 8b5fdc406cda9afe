# The e2e tests' template: bakery-ebs against the test-bed, then
# bakery-ansible with what the test sets.
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

variable "galaxy_command" {
  type    = string
  default = null
}

variable "marker" {
  type = string
}

variable "play_secret" {
  type      = string
  sensitive = true
}

variable "use_proxy" {
  type    = bool
  default = null
}

variable "use_sftp" {
  type    = bool
  default = null
}

variable "use_mitogen" {
  type    = bool
  default = false
}

variable "sftp_command" {
  type    = string
  default = null
}

variable "galaxy_file" {
  type    = string
  default = null
}

variable "roles_path" {
  type    = string
  default = null
}

variable "collections_path" {
  type    = string
  default = null
}

variable "ansible_env_vars" {
  type    = list(string)
  default = []
}

variable "ansible_ssh_extra_args" {
  type    = list(string)
  default = []
}

variable "extra_arguments" {
  type    = list(string)
  default = []
}

# Not `sensitive`: packer itself would mask these; the plugin must too.
variable "session_token" {
  type    = string
  default = null
}

variable "plain_secret" {
  type    = string
  default = ""
}

variable "bastion_host" {
  type    = string
  default = null
}

variable "bastion_port" {
  type    = number
  default = null
}

variable "bastion_key_file" {
  type    = string
  default = null
}

source "bakery-ebs" "e2e" {
  access_key          = "AKIDBAKERYE2E"
  secret_key          = var.secret_key
  token               = var.session_token
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

  ssh_bastion_host             = var.bastion_host
  ssh_bastion_port             = var.bastion_port
  ssh_bastion_username         = var.bastion_host == null ? null : "jump"
  ssh_bastion_private_key_file = var.bastion_key_file

  ami_name = var.ami_name
}

build {
  sources = ["source.bakery-ebs.e2e"]

  provisioner "bakery-ansible" {
    playbook_file    = var.playbook
    command          = var.ansible_command
    galaxy_command   = var.galaxy_command
    use_proxy        = var.use_proxy
    use_sftp         = var.use_sftp
    use_mitogen      = var.use_mitogen
    sftp_command     = var.sftp_command
    galaxy_file      = var.galaxy_file
    roles_path       = var.roles_path
    collections_path = var.collections_path
    ansible_env_vars = var.ansible_env_vars
    extra_arguments  = var.extra_arguments

    ansible_ssh_extra_args = var.ansible_ssh_extra_args
    extra_vars = {
      marker        = var.marker
      bakery_secret = var.play_secret
      bakery_plain  = var.plain_secret
    }
  }
}
