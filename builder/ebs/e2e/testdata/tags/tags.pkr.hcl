# The template of e2e_tags_test.go: a bake whose tags, run_tags,
# run_volume_tags, snapshot_tags and ami_description use every build variable
# (tags has a key of its own, which the snapshots get too), a shell-local
# provisioner that writes the build.* generated data to a file, and the
# aws_polling block.
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
  type    = list(string)
  default = []
}

variable "generated_file" {
  type = string
}

variable "delay_seconds" {
  type    = number
  default = 0
}

variable "max_attempts" {
  type    = number
  default = 0
}

variable "ami_regions" {
  type    = list(string)
  default = []
}

locals {
  every_variable = "{{ .BuildRegion }}|{{ .SourceAMI }}|{{ .SourceAMIName }}|{{ .SourceAMIOwner }}|{{ .SourceAMIOwnerName }}|{{ .SourceAMICreationDate }}|{{ .SourceAMITags.Team }}"
  tags_with_every_variable = {
    "Every"                          = local.every_variable
    "Region"                         = "{{ .BuildRegion }}"
    "SourceAMI"                      = "{{ .SourceAMI }}"
    "SourceAMIName"                  = "{{ .SourceAMIName }}"
    "SourceAMIOwner"                 = "{{ .SourceAMIOwner }}"
    "SourceAMIOwnerName"             = "{{ .SourceAMIOwnerName }}"
    "SourceAMICreationDate"          = "{{ .SourceAMICreationDate }}"
    "SourceTeam"                     = "{{ .SourceAMITags.Team }}"
    "SourceMissing"                  = "{{ .SourceAMITags.NoSuchTag }}"
    "CleanName"                      = "{{ .SourceAMIName | clean_resource_name }}"
    "built-in-{{ .BuildRegion }}"    = "yes"
    "from-{{ .SourceAMITags.Team }}" = "{{ .SourceAMI }}"
  }
}

source "bakery-ebs" "tags" {
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

  ami_name        = var.ami_name
  ami_regions     = var.ami_regions
  ami_description = "built from {{ .SourceAMIName }} ({{ .SourceAMI }}) in {{ .BuildRegion }}"
  tags            = merge(local.tags_with_every_variable, { Kind = "ami", CostCenter = "{{ .SourceAMITags.Team }}-images" })
  run_tags        = merge(local.tags_with_every_variable, { Kind = "instance" })
  snapshot_tags   = merge(local.tags_with_every_variable, { Kind = "snapshot" })
  run_volume_tags = merge(local.tags_with_every_variable, { Kind = "volume" })

  aws_polling {
    delay_seconds = var.delay_seconds
    max_attempts  = var.max_attempts
  }
}

build {
  sources = ["source.bakery-ebs.tags"]

  provisioner "shell-local" {
    inline = [
      "cat > ${var.generated_file} <<'GENERATED'",
      "BuildRegion=${build.BuildRegion}",
      "SourceAMI=${build.SourceAMI}",
      "SourceAMIName=${build.SourceAMIName}",
      "SourceAMIOwner=${build.SourceAMIOwner}",
      "SourceAMIOwnerName=${build.SourceAMIOwnerName}",
      "SourceAMICreationDate=${build.SourceAMICreationDate}",
      "GENERATED",
    ]
  }
}
