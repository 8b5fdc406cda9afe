# Use this when the build instance must live in a private subnet and the
# VPC has an EC2 Instance Connect Endpoint: Packer reaches the instance
# through it, one SigV4-signed websocket per SSH connection, with nothing
# to install on the instance and no instance profile. The temporary
# security group admits SSH only from the endpoint's security groups.
#
#   packer build -var subnet_id=subnet-0123456789abcdef0 example/instance-connect-endpoint
#
# The endpoint's own security group must allow outbound SSH to the subnet
# (the default allows all outbound), and the endpoint must not preserve
# client IPs. `packer-plugin-bakery iam-policy example/instance-connect-endpoint`
# writes the permissions packer's credentials need
# (ec2-instance-connect:OpenTunnel to port 22 only).
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
  description = "A private subnet of a VPC that has an EC2 Instance Connect Endpoint."
}

data "bakery-ami" "al2023" {
  region = var.region
  filters = {
    name                = "al2023-ami-2023.*-x86_64"
    virtualization-type = "hvm"
  }
  owners      = ["amazon"]
  most_recent = true
}

source "bakery-ebs" "private" {
  region        = var.region
  source_ami    = data.bakery-ami.al2023.id
  instance_type = "t3.micro"
  subnet_id     = var.subnet_id

  associate_public_ip_address = false
  ssh_interface               = "instance_connect_endpoint"
  # Unset, the endpoint in the subnet (else one in the VPC) is used:
  # instance_connect_endpoint_id = "eice-0123456789abcdef0"
  ssh_username = "ec2-user"

  ami_name = "private-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
}

build {
  sources = ["source.bakery-ebs.private"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade"]
  }
}
