# Network settings from a shared variables file next to per-template
# overrides: both the ID and the filter end up set, and amazon-ebs takes
# the ID.
source "amazon-ebs" "net" {
  region        = "us-east-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "net-{{timestamp}}"

  vpc_id = "vpc-0123456789abcdef0"
  vpc_filter {
    filters = {
      "tag:Name" = "build-vpc"
    }
  }
  subnet_id = "subnet-0123456789abcdef0"
  subnet_filter {
    filters = {
      "tag:Tier" = "private"
    }
    most_free = true
  }
  security_group_ids                    = ["sg-0123456789abcdef0"]
  temporary_security_group_source_cidrs = ["10.0.0.0/8"]
}

build {
  sources = ["source.amazon-ebs.net"]
}
