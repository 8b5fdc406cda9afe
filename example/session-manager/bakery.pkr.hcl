# Use this when the build instance must live in a private subnet with no
# inbound SSH at all: Packer reaches it through an AWS Systems Manager
# Session Manager port-forwarding session. No session-manager-plugin binary
# is needed; the plugin speaks the protocol itself and carries every SSH
# connection (Ansible's parallel ones too) over one session, ended with
# TerminateSession when provisioning is over or the build fails.
#
#   packer-plugin-bakery iam-policy -boundary -o boundary.json example/session-manager
#   aws iam create-policy --policy-name packer-bakery-ssm-boundary --policy-document file://boundary.json
#   packer build -var subnet_id=subnet-0123456789abcdef0 \
#     -var role_boundary=arn:aws:iam::123456789012:policy/packer-bakery-ssm-boundary example/session-manager
#
# The boundary caps the temporary role: packer's credentials may create
# roles only with it, so they cannot make themselves a more powerful one.
#
# The instance needs the SSM agent (Amazon Linux has it), the
# AmazonSSMManagedInstanceCore permissions (the temporary instance profile
# below) and a route to the ssm, ssmmessages and ec2messages endpoints (a
# NAT gateway or VPC interface endpoints). The temporary security group
# admits nothing. `packer-plugin-bakery iam-policy example/session-manager`
# writes the permissions packer's own credentials need.
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

variable "role_boundary" {
  type        = string
  description = "The ARN of the temporary role's permissions boundary: create it from `packer-plugin-bakery iam-policy -boundary` (docs/iam-policy.md)."
}

variable "subnet_id" {
  type        = string
  description = "A private subnet with a route to the Systems Manager endpoints."
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
  ssh_interface               = "session_manager"
  ssh_username                = "ec2-user"

  # What AmazonSSMManagedInstanceCore allows the agent, made for this build
  # and removed when it ends. An existing profile works too:
  # iam_instance_profile = "my-ssm-instance-profile".
  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect = "Allow"
      Action = [
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
      ]
      Resource = ["*"]
    }
  }
  temporary_iam_role_permissions_boundary = var.role_boundary

  ami_name = "private-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
}

build {
  sources = ["source.bakery-ebs.private"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade"]
  }
}
