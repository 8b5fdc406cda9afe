# want: `host_alias` "web server" is not an inventory host name
variable "aws_endpoint" {
  type = string
}

source "bakery-ebs" "main" {
  region              = "us-east-1"
  custom_endpoint_ec2 = var.aws_endpoint
  custom_endpoint_sts = var.aws_endpoint

  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-invalid"
}

build {
  sources = ["source.bakery-ebs.main"]

  provisioner "bakery-ansible" {
    playbook_file = "${path.root}/playbook.yml"
    host_alias    = "web server"
  }
}
