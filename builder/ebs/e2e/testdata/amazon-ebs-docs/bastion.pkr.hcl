# An instance in a private subnet, reached through a bastion host; the
# bastion accepts the key held by the local ssh-agent.

source "bakery-ebs" "private" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ami_name      = "bakery-private-{{timestamp}}"
  subnet_id     = "subnet-0123456789abcdef0"

  associate_public_ip_address = false
  ssh_interface               = "private_ip"
  ssh_username                = "ec2-user"

  ssh_bastion_host       = "bastion.example.com"
  ssh_bastion_port       = 22
  ssh_bastion_username   = "jump"
  ssh_bastion_agent_auth = true
}

build {
  sources = ["source.bakery-ebs.private"]
}
