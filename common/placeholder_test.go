package common

import (
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

func TestKnown(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{hcl2helper.UnknownVariableValue, false},
		{"<unknown>", false}, // packer v1.15.0's placeholder for a data source's output
		{"ami-0123456789abcdef0", true},
		{"", true},
		{"unknown", true},
	} {
		if got := Known(tc.in); got != tc.want {
			t.Errorf("Known(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
