# Use this where packer itself runs in AWS: an EC2 instance with an instance
# profile, or a CodeBuild/ECS job with a task role. The role is the only
# credential; there are no keys in the template, the environment or the
# build host's disk. The build reports "EC2 instance role" (or "container
# credentials") as the source before it creates anything.
#
#   packer build -var subnet_id=subnet-0123456789abcdef0 example/instance-role
#
# The build instance goes into a private subnet next to the build host and
# packer connects to its private IP, so no public address or inbound rule
# from the internet is needed. The role needs the permissions listed on the
# builder's page.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "subnet_id" {
  type        = string
  description = "A private subnet the build host can reach."
}

variable "build_host_cidr" {
  type        = string
  default     = "10.0.0.0/16"
  description = "Where packer connects from: the only source the temporary security group admits on port 22."
}

source "bakery-ebs" "app" {
  region = var.region

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }
  instance_type = "t3.micro"

  subnet_id                             = var.subnet_id
  associate_public_ip_address           = false
  temporary_security_group_source_cidrs = [var.build_host_cidr]
  ssh_interface                         = "private_ip"
  ssh_username                          = "ec2-user"

  ami_name = "app-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  tags = {
    Name      = "app"
    ManagedBy = "packer"
  }
}

build {
  sources = ["source.bakery-ebs.app"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade --refresh"]
  }
}
