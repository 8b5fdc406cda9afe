# Build template data in tags and the description, and a cleaned AMI name,
# as amazon-ebs's documentation shows them.
source "bakery-ebs" "build-data" {
  region        = "us-east-1"
  source_ami    = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  ssh_username  = "ec2-user"
  ami_name      = "packer-example {{ isotime | clean_resource_name }}"

  ami_description = "Built from {{ .SourceAMIName }}"
  tags = {
    OS_Version    = "Ubuntu"
    Release       = "Latest"
    Base_AMI_ID   = "{{ .SourceAMI }}"
    Base_AMI_Name = "{{ .SourceAMIName }}"
    Extra         = "{{ .SourceAMITags.TagName }}"
  }
  run_tags = {
    Builder = "{{ .BuildRegion }}-{{ .SourceAMIOwner }}"
  }
  snapshot_tags = {
    Source_Created = "{{ .SourceAMICreationDate }}"
  }
}

build {
  sources = ["source.bakery-ebs.build-data"]

  provisioner "shell-local" {
    inline = ["echo building from ${build.SourceAMIName} (${build.SourceAMIOwnerName}) in ${build.BuildRegion}"]
  }
}
