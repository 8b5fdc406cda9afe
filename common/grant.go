package common

// Grant is one IAM permission a post-processor needs, declared by the
// post-processor beside the calls it makes, scoped as narrowly as its
// configuration allows; `iam-policy` writes it as a statement with the
// account's ARNs and the build's regions.
type Grant struct {
	// Sid names the statement; grants of one Sid become one statement.
	Sid     string
	Actions []string
	// Service is the ARN's service ("ec2", "ssm"); Resources its
	// resources there ("image/*", "parameter/app/latest"), in each of the
	// grant's regions. A resource starting with "arn:" is used as it is;
	// "*" is any resource, limited to the regions by aws:RequestedRegion.
	Service   string
	Resources []string
	// Regions the grant is for; nil: every region that holds an AMI of
	// the build (the build region and ami_regions).
	Regions []string
	// Account the resources are in; "": the build's.
	Account string
	// ResourceTags: only resources carrying these tags (aws:ResourceTag).
	ResourceTags map[string]string
}
