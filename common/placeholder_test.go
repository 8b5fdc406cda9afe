package common

import (
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

func TestKnown(t *testing.T) {
	for s, want := range map[string]bool{
		"ami-0123456789abcdef0":         true,
		"":                              true,
		hcl2helper.UnknownVariableValue: false, // the SDK's placeholder
		"<unknown>":                     false, // packer's, for a data source's output under validate
		"<unknown>-suffix":              true,
	} {
		if got := Known(s); got != want {
			t.Errorf("Known(%q) = %v, want %v", s, got, want)
		}
	}
}
