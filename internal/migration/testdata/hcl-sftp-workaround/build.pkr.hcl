# The seed document's workaround for the stock provisioner on Amazon Linux:
# sftp_command pointed at RHEL's sftp-server, kept next to use_proxy = false.
source "amazon-ebs" "base" {
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.small"
  ssh_username  = "ec2-user"
  ami_name      = "base-{{timestamp}}"
}

build {
  sources = ["source.amazon-ebs.base"]

  provisioner "ansible" {
    playbook_file          = "${path.root}/../playbook.yml"
    use_proxy              = false
    sftp_command           = "/usr/libexec/openssh/sftp-server -e"
    ansible_proxy_key_type = "RSA"
    ansible_env_vars       = ["ANSIBLE_SCP_IF_SSH=True", "ANSIBLE_REMOTE_TMP=/tmp/.ansible"]
  }
}
