package ebs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// stepCheckEnhancedNetworking refuses `ena_support`/`sriov_support` on a
// paravirtual source AMI right after it is chosen, not after provisioning
// where ModifyInstanceAttribute would fail. As in amazon-ebs,
// `ami_virtualization_type = "hvm"` vouches for the source.
type stepCheckEnhancedNetworking struct {
	ena      config.Trilean
	sriov    bool
	virtType string
}

var _ multistep.Step = (*stepCheckEnhancedNetworking)(nil)

func (s *stepCheckEnhancedNetworking) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if (!s.ena.True() && !s.sriov) || s.virtType == "hvm" {
		return multistep.ActionContinue
	}
	src := getSourceImage(state)
	if src.VirtualizationType == types.VirtualizationTypeHvm {
		return multistep.ActionContinue
	}
	return halt(state, fmt.Errorf("`ena_support`/`sriov_support` need an HVM AMI, but source AMI %s is %q: choose an HVM source AMI",
		aws.ToString(src.ImageId), src.VirtualizationType))
}

func (s *stepCheckEnhancedNetworking) Cleanup(multistep.StateBag) {}
