package ssm

import "testing"

func TestVersionAfter(t *testing.T) {
	tests := []struct {
		v, ref string
		want   bool
	}{
		{"3.0.196.0", muxAfter, false}, // the plugin wants strictly greater
		{"3.0.197.0", muxAfter, true},
		{"3.1.0.0", muxAfter, true},
		{"2.3.1319.0", muxAfter, false},
		{"10.0.0.0", muxAfter, true},
		{"", muxAfter, false},
		{"x.y", muxAfter, false},
	}
	for _, tt := range tests {
		if got := versionAfter(tt.v, tt.ref); got != tt.want {
			t.Errorf("versionAfter(%q, %q) = %v", tt.v, tt.ref, got)
		}
	}
}
