# The AMI test with a playbook check: bakery-ansible runs `playbook`
# against the test instance, with the bed's ansible-playbook
# (`ansible_command`), after the `ami_test_commands`.
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

variable "commands" {
  type = list(string)
}

variable "ami_test_commands" {
  type    = list(string)
  default = null
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

variable "use_mitogen" {
  type    = bool
  default = false
}

variable "sleeper" {
  type    = string
  default = "sleep 1"
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

  ssh_username = "ec2-user"
  ssh_host     = var.ssh_host
  ssh_port     = var.ssh_port
  ssh_timeout  = "1m"

  ami_name = var.ami_name
  tags = {
    Name  = var.ami_name
    Suite = "e2e"
  }
  run_tags = {
    Suite = "e2e"
  }
  ami_test {
    inline = var.ami_test_commands
    ansible {
      playbook_file = var.playbook
      command       = var.ansible_command
      use_mitogen   = var.use_mitogen
      extra_vars = {
        marker  = var.marker
        sleeper = var.sleeper
      }
      # Filled in by the play, not when the template is read.
      inventory_file_template = "{{ .HostAlias }} ansible_host={{ .Host }} ansible_port={{ .Port }} ami_test_marker=${var.marker}\n"
    }
  }
}

build {
  sources = ["source.bakery-ebs.e2e"]

  provisioner "shell" {
    inline = var.commands
  }
}
