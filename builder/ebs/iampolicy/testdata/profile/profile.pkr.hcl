# Sources with a temporary instance profile: with a permissions boundary
# (a variable, so that a test can leave it without a value), and without.
variable "boundary" {
  type = string
}

variable "bucket" {
  type    = string
  default = "seeds"
}

source "bakery-ebs" "bounded" {
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "bounded"

  temporary_iam_instance_profile_policy_document {
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${var.bucket}/*"]
    }
    Statement {
      Effect   = "Deny"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${var.bucket}/secret/*"]
    }
  }
  temporary_iam_role_permissions_boundary = var.boundary
}

source "bakery-ebs" "unbounded" {
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "unbounded"

  temporary_iam_instance_profile_policy_document {
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${var.bucket}/*"]
    }
  }
}

variable "prefix" {
  type = string
}

# Its document has a value only the build knows.
source "bakery-ebs" "open" {
  region        = "eu-west-1"
  source_ami    = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "open"

  temporary_iam_instance_profile_policy_document {
    Statement {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::seeds/${var.prefix}/*"]
    }
  }
  temporary_iam_role_permissions_boundary = var.boundary
}
