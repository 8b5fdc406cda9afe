# The capacity fallback e2e: instance_type t3.micro, then t3a.micro and
# t2.micro, each in the given subnet and then the VPC's other subnets.
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

variable "subnet_id" {
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

  subnet_id               = var.subnet_id
  fallback_instance_types = ["t3a.micro", "t2.micro"]
  fallback_subnets        = true
  run_tags = {
    Purpose = "capacity-fallback"
  }
}

build {
  sources = ["source.bakery-ebs.e2e"]

  provisioner "shell" {
    inline = var.commands
  }
}
