# The source AMI from a data source, reused by two sources.
data "amazon-ami" "al2" {
  region = "us-east-1"
  filters = {
    name                = "amzn2-ami-hvm-*-x86_64-gp2"
    virtualization-type = "hvm"
  }
  owners      = ["137112412989"]
  most_recent = true
}

source "amazon-ebs" "web" {
  region        = "us-east-1"
  source_ami    = data.amazon-ami.al2.id
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "web-{{timestamp}}"
}

source "amazon-ebs" "worker" {
  region        = "us-east-1"
  source_ami    = data.amazon-ami.al2.id
  instance_type = "c5.large"
  ssh_username  = "ec2-user"
  ami_name      = "worker-{{timestamp}}"
}

build {
  sources = ["source.amazon-ebs.web", "source.amazon-ebs.worker"]
}
