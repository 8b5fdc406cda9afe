# A shared source whose login user is set per build, a legacy {{timestamp}}
# in an HCL name, and the flags people copy from the getting-started guide.
source "amazon-ebs" "vm" {
  region                      = "us-west-2"
  availability_zone           = "us-west-2a"
  source_ami                  = "ami-0123456789abcdef0"
  instance_type               = "t3.medium"
  ami_name                    = "builder-{{timestamp}}"
  force_deregister            = true
  force_delete_snapshot       = true
  associate_public_ip_address = true
  ssh_timeout                 = "10m"
}

build {
  name = "linux-builder"
  source "source.amazon-ebs.vm" {
    ssh_username = "admin"
  }

  provisioner "ansible" {
    playbook_file = "${path.root}/../playbook.yml"
    use_proxy     = false
  }
}
