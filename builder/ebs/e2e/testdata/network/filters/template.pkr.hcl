# Run by e2e_network_test.go against the test-bed.
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

variable "class" {
  type = string
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
  ssh_username  = "ec2-user"
  ssh_host      = var.ssh_host
  ssh_port      = var.ssh_port
  ssh_timeout   = "1m"
  ami_name      = var.ami_name

  vpc_filter {
    filters = {
      "tag:Class" = var.class
    }
  }
  subnet_filter {
    filters = {
      "tag:Class" = var.class
    }
    most_free = true
  }
  security_group_filter {
    filters = {
      "tag:Class" = var.class
    }
  }
}

build {
  sources = ["source.bakery-ebs.e2e"]

  provisioner "shell" {
    inline = var.commands
  }
}
