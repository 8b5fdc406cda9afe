package common

import "testing"

func TestPrincipalARN(t *testing.T) {
	for caller, want := range map[string]string{
		"arn:aws:iam::123456789012:user/ci/builder":                                  "arn:aws:iam::123456789012:user/ci/builder",
		"arn:aws:sts::123456789012:assumed-role/Builder/botocore-session-1":          "arn:aws:iam::123456789012:role/Builder",
		"arn:aws-cn:sts::123456789012:assumed-role/Builder/me@example.com":           "arn:aws-cn:iam::123456789012:role/Builder",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/alice": "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123abcd",
		"arn:aws:sts::123456789012:federated-user/bob":                               "arn:aws:sts::123456789012:federated-user/bob",
		"arn:aws:iam::123456789012:root":                                             "arn:aws:iam::123456789012:root",
		"":                                                                           "",
	} {
		if got := PrincipalARN(caller); got != want {
			t.Errorf("PrincipalARN(%q) = %q, want %q", caller, got, want)
		}
	}
}
