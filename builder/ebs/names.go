package ebs

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/hashicorp/packer-plugin-sdk/communicator"
)

// names are the names of what a build makes for itself, all from its build
// id, so that one build's never meet another's (and sweep can tell them).
type names struct {
	keyPair           string // temporary_key_pair_name, or the build's own
	group             string // the temporary security group
	profile           string // the temporary role, its inline policy and instance profile
	probe             string // a role and profile name the permission check asks IAM about: never created
	launchTemplate    string // a spot build's launch template
	intermediateImage string // the AMI that encrypt_boot or skip_save_build_region copies
	clientToken       string // base of the launch's idempotency tokens
}

func temporaryNames(buildID string, comm *communicator.Config) names {
	own := "packer_bakery_" + buildID
	n := names{keyPair: own, group: own, profile: own, launchTemplate: own,
		probe: "packer_bakery_permission_check_" + buildID, intermediateImage: "packer-bakery-intermediate-" + buildID,
		clientToken: "bakery-" + buildID}
	if comm.SSHTemporaryKeyPairName != "" {
		n.keyPair = comm.SSHTemporaryKeyPairName
	}
	return n
}

// copyToken is a ClientToken (at most 64 characters) that is the same for
// every attempt of the same build, purpose and region, and different
// otherwise.
func copyToken(buildID, purpose, region string) string {
	sum := sha256.Sum256([]byte(buildID + "/" + purpose + "/" + region))
	return "bakery-" + hex.EncodeToString(sum[:16])
}

// Placeholders for resources the build has yet to create: well-formed IDs
// that exist nowhere. EC2 checks the permission of a dry run before it
// looks the resource up on the test-bed; see docs/iam-policy.md for what
// AWS answers.
const (
	placeholderInstance = "i-00000000000000000"
	placeholderGroup    = "sg-00000000000000000"
	placeholderImage    = "ami-00000000000000000"
	placeholderSnapshot = "snap-00000000000000000"
	placeholderTemplate = "lt-00000000000000000"
	placeholderFleet    = "fleet-00000000-0000-0000-0000-000000000000"
	placeholderName     = "packer_bakery_permission_check"
)
