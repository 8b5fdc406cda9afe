# The source AMI looked up once by a data source and used by its ID, as
# amazon-ebs's docs do with the amazon-ami data source.
data "bakery-ami" "al2023" {
  region = "us-east-1"
  filters = {
    name         = "al2023-ami-2023.*-x86_64"
    architecture = "x86_64"
  }
  owners      = ["amazon"]
  most_recent = true
}

source "bakery-ebs" "from-data" {
  region        = "us-east-1"
  source_ami    = data.bakery-ami.al2023.id
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-al2023-${formatdate("YYYYMMDD", timestamp())}"
}

build {
  sources = ["source.bakery-ebs.from-data"]
}
