package ebs

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

func TestStepCheckEnhancedNetworking(t *testing.T) {
	for _, tc := range []struct {
		name     string
		step     stepCheckEnhancedNetworking
		source   types.VirtualizationType
		wantHalt bool
	}{
		{"ena on hvm", stepCheckEnhancedNetworking{ena: config.TriTrue}, types.VirtualizationTypeHvm, false},
		{"ena on paravirtual", stepCheckEnhancedNetworking{ena: config.TriTrue}, types.VirtualizationTypeParavirtual, true},
		{"sriov on paravirtual", stepCheckEnhancedNetworking{sriov: true}, types.VirtualizationTypeParavirtual, true},
		{"hvm vouched for", stepCheckEnhancedNetworking{sriov: true, virtType: "hvm"}, types.VirtualizationTypeParavirtual, false},
		{"ena off on paravirtual", stepCheckEnhancedNetworking{ena: config.TriFalse}, types.VirtualizationTypeParavirtual, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, ui := newState(t)
			state.Put(keySourceImage, types.Image{ImageId: aws.String("ami-0src"), VirtualizationType: tc.source})
			got := tc.step.Run(t.Context(), state)
			if tc.wantHalt {
				wantHalt(t, got, state, ui, "need an HVM AMI", "ami-0src", "paravirtual")
			} else {
				wantContinue(t, got, state, ui)
			}
		})
	}
}
