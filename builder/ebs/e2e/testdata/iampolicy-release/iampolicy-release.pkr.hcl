# The IAM proof's template of a release: bake, test the AMI, copy to another region,
# publish the AMI IDs to SSM, retire the family's old AMIs, as an IAM user
# holding exactly the policy `packer-plugin-bakery iam-policy` writes for it.
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
  type    = string
  default = "bakery-iam-proof"
}

source "bakery-ebs" "release" {
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

  ami_name    = var.ami_name
  ami_regions = ["us-west-2"]
  tags = {
    Name   = var.ami_name
    Family = "bakery-iam-release"
  }
  ami_test {
    inline = ["test -d /home/ec2-user"]
  }
}

build {
  sources = ["source.bakery-ebs.release"]

  provisioner "shell" {
    inline = ["echo baked as a least-privilege user"]
  }

  post-processors {
    post-processor "bakery-ssm-parameter" {
      access_key          = var.access_key
      secret_key          = var.secret_key
      custom_endpoint_sts = var.aws_endpoint
      parameter_name      = "/bakery-iam-release/latest"
      overwrite           = true
    }

    post-processor "bakery-retire" {
      access_key          = var.access_key
      secret_key          = var.secret_key
      custom_endpoint_ec2 = var.aws_endpoint
      custom_endpoint_sts = var.aws_endpoint
      tags = {
        Family = "bakery-iam-release"
      }
      keep_releases = 1
    }
  }
}
