# Use this in a CI job whose runner hands AWS credentials over in the
# environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for temporary
# credentials (OIDC federation, assumed roles), AWS_SESSION_TOKEN; the region
# in AWS_REGION. The template names no credentials, so the same file runs
# wherever the job runs. The AMI ID ends up in manifest.json for the next
# job.
#
#   packer init example/ci-env-credentials
#   packer build -var commit=$CI_COMMIT_SHA example/ci-env-credentials
#
# A cancelled job (SIGTERM) still removes what the build created.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/packer-bakery/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "commit" {
  type        = string
  default     = "unknown"
  description = "The commit being built; recorded in the AMI's tags."
}

variable "manifest" {
  type        = string
  default     = "manifest.json"
  description = "Where the manifest post-processor records the AMI ID."
}

# The source AMI is looked up once and shared by every source that needs it.
# The region comes from AWS_REGION, as for the builder.
data "bakery-ami" "al2023" {
  filters = {
    name                = "al2023-ami-2023.*-x86_64"
    virtualization-type = "hvm"
  }
  owners      = ["amazon"]
  most_recent = true
}

source "bakery-ebs" "app" {
  source_ami    = data.bakery-ami.al2023.id
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"

  ami_name        = "app-${formatdate("YYYYMMDD-hhmmss", timestamp())}"
  ami_description = "app at ${var.commit}"
  tags = {
    Name      = "app"
    Commit    = var.commit
    BaseAMI   = data.bakery-ami.al2023.name
    ManagedBy = "packer"
  }
  snapshot_tags = {
    Commit = var.commit
  }
}

build {
  sources = ["source.bakery-ebs.app"]

  provisioner "shell" {
    inline = ["sudo dnf -y upgrade --refresh"]
  }

  post-processor "manifest" {
    output     = var.manifest
    strip_path = true
  }
}
