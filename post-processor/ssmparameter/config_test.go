package ssmparameter

import (
	"strings"
	"testing"
)

func TestConfigPrepare(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want string // "" for no error
	}{
		{"minimal", map[string]interface{}{"parameter_name": "/app/ami/latest"}, ""},
		{"flat name", map[string]interface{}{"parameter_name": "app-latest"}, ""},
		{"no name", map[string]interface{}{}, "`parameter_name` is required"},
		{"bad characters", map[string]interface{}{"parameter_name": "/app/ami latest"}, "only letters, digits"},
		{"path without slash", map[string]interface{}{"parameter_name": "app/latest"}, "starts with /"},
		{"reserved", map[string]interface{}{"parameter_name": "/aws/service/x"}, "reserved by AWS"},
		{"reserved ssm", map[string]interface{}{"parameter_name": "ssm-x"}, "reserved by AWS"},
		{"regions twice", map[string]interface{}{"parameter_name": "/a", "regions": []string{"us-east-1", "us-east-1"}}, "names us-east-1 twice"},
		{"aws tag", map[string]interface{}{"parameter_name": "/a", "tags": map[string]string{"aws:x": "y"}}, "aws: prefix is reserved"},
		{"negative timeout", map[string]interface{}{"parameter_name": "/a", "validation_timeout": "-1s"}, "cannot be negative"},
		{"access options checked", map[string]interface{}{"parameter_name": "/a", "access_key": "AKID"}, "`access_key` and `secret_key` go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Prepare(tc.raw)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
			if tc.want == "" && c.ValidationTimeout == 0 {
				t.Errorf("validation_timeout has no default")
			}
		})
	}
}
