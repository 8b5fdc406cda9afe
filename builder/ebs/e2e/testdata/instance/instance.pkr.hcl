# The instance options' end-to-end template: one bake against the test-bed
# with every instance option of bakery-ebs set.
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

variable "root_device" {
  type = string
}

# Run on the "instance" (the test-bed's sshd).
variable "commands" {
  type = list(string)
}

# With disable_stop_instance, the last provisioner stops the instance: a
# shell-local one that calls StopInstances with the test-bed's python
# (stop-instance.py).
variable "disable_stop_instance" {
  type    = bool
  default = false
}

variable "python" {
  type    = string
  default = "python3"
}

source "bakery-ebs" "instance" {
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

  user_data_file = "${path.root}/user-data.sh"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "enabled"
  }
  ebs_optimized            = true
  enable_unlimited_credits = true
  shutdown_behavior        = "stop"
  disable_stop_instance    = var.disable_stop_instance
  placement {
    tenancy = "dedicated"
  }

  launch_block_device_mappings {
    device_name = var.root_device
    volume_size = 20
    volume_type = "gp3"
    iops        = 4000
    throughput  = 250
  }
  # Not io1/io2: moto refuses them at launch ("VolumeType requires Iops")
  # because it drops the Iops of launch mappings.
  launch_block_device_mappings {
    device_name = "/dev/sdf"
    volume_size = 5
    volume_type = "gp2"
  }
  ami_block_device_mappings {
    device_name = var.root_device
    volume_size = 30
    volume_type = "gp3"
    iops        = 5000
    throughput  = 500
  }
  ami_block_device_mappings {
    device_name = "/dev/sdf"
    no_device   = true
  }

  run_tags = {
    Suite = "e2e-instance"
  }
  run_volume_tags = {
    Disk = "build-volume"
  }

  ami_name = var.ami_name
  tags = {
    Name = var.ami_name
  }
}

build {
  sources = ["source.bakery-ebs.instance"]

  provisioner "shell" {
    inline = var.commands
  }

  provisioner "shell-local" {
    inline = var.disable_stop_instance ? ["${var.python} ${path.root}/stop-instance.py ${build.ID} us-east-1"] : ["true"]
  }
}
