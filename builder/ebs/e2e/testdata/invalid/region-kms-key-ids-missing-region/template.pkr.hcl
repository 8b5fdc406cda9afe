# want: `ami_regions` has us-west-2 but `region_kms_key_ids` has no key for it
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
  encrypt_boot  = true
  ami_regions   = ["eu-west-1", "us-west-2"]
  region_kms_key_ids = {
    eu-west-1 = "alias/images"
  }
}

build {
  sources = ["source.bakery-ebs.main"]
}
