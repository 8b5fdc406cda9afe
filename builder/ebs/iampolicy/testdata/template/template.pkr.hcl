variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "subnet" {
  type = string
}

variable "groups" {
  type    = list(string)
  default = []
}

variable "own_key" {
  type    = bool
  default = false
}

locals {
  name = "app-${formatdate("YYYYMMDD", timestamp())}"
  team = upper(var.region)
}

source "bakery-ebs" "app" {
  region             = var.region
  source_ami         = "ami-0123456789abcdef0"
  instance_type      = "t3.micro"
  subnet_id          = var.subnet
  security_group_ids = var.groups
  ssh_username       = "ec2-user"
  ami_name           = local.name
  snapshot_tags = {
    Team = local.team
  }
}

source "bakery-ebs" "other" {
  region        = "us-west-2"
  source_ami    = "ami-0fedcba9876543210"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "other"
}
