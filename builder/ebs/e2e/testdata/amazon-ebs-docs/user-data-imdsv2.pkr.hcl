# User data from a file, IMDSv2 required on the build instance and the AMI.
source "bakery-ebs" "imdsv2" {
  region         = "us-east-1"
  source_ami     = "ami-0abcdef1234567890"
  instance_type  = "t3.micro"
  ssh_username   = "ec2-user"
  ami_name       = "bakery-imdsv2-{{timestamp}}"
  user_data_file = "/dev/null"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"
}

build {
  sources = ["source.bakery-ebs.imdsv2"]
}
