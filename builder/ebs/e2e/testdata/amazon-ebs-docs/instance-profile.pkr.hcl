# A temporary instance profile whose policy lets provisioners read a bucket.
source "bakery-ebs" "with-profile" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bakery-profile-{{timestamp}}"

  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::artifacts-bucket/*"]
    }
  }
}

build {
  sources = ["source.bakery-ebs.with-profile"]
}
