package ebs

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

// policyDoc is a temporary_iam_instance_profile_policy_document as the
// template decoder hands it over.
func policyDoc(version string, statements ...map[string]interface{}) map[string]interface{} {
	doc := map[string]interface{}{"Statement": statements}
	if version != "" {
		doc["Version"] = version
	}
	return doc
}

func statement(effect string, action, resource []string) map[string]interface{} {
	s := map[string]interface{}{}
	if effect != "" {
		s["Effect"] = effect
	}
	if action != nil {
		s["Action"] = action
	}
	if resource != nil {
		s["Resource"] = resource
	}
	return s
}

func TestIAMConfigPrepare(t *testing.T) {
	const doc = "temporary_iam_instance_profile_policy_document"
	readS3 := statement("Allow", []string{"s3:GetObject"}, []string{"arn:aws:s3:::seeds/*"})
	tests := []prepareCase{
		{name: "no profile at all", input: validConfig(nil), check: func(t *testing.T, c *Config) {
			if c.IamInstanceProfile != "" || c.TemporaryIamInstanceProfilePolicyDocument != nil {
				t.Errorf("profile options set without being asked: %+v", c.IAMConfig)
			}
		}},
		{name: "existing profile", input: validConfig(map[string]interface{}{"iam_instance_profile": "build-readers"}),
			check: func(t *testing.T, c *Config) {
				if c.IamInstanceProfile != "build-readers" || c.SkipProfileValidation {
					t.Errorf("IAMConfig = %+v", c.IAMConfig)
				}
			}},
		{name: "existing profile unchecked", input: validConfig(map[string]interface{}{"iam_instance_profile": "build-readers", "skip_profile_validation": true}),
			check: func(t *testing.T, c *Config) {
				if !c.SkipProfileValidation {
					t.Error("skip_profile_validation not decoded")
				}
			}},
		{name: "temporary profile, Version defaults",
			input: validConfig(map[string]interface{}{doc: policyDoc("", readS3,
				statement("Deny", []string{"ssm:*", "*"}, []string{"*"}))}),
			check: func(t *testing.T, c *Config) {
				d := c.TemporaryIamInstanceProfilePolicyDocument
				if d == nil || d.Version != "2012-10-17" || len(d.Statement) != 2 {
					t.Fatalf("document = %+v, want 2 statements, Version 2012-10-17", d)
				}
				got, err := d.JSON()
				if err != nil {
					t.Fatal(err)
				}
				var back map[string]interface{}
				if err := json.Unmarshal([]byte(got), &back); err != nil {
					t.Fatalf("policy JSON %s: %v", got, err)
				}
				want := map[string]interface{}{"Version": "2012-10-17", "Statement": []interface{}{
					map[string]interface{}{"Effect": "Allow", "Action": []interface{}{"s3:GetObject"}, "Resource": []interface{}{"arn:aws:s3:::seeds/*"}},
					map[string]interface{}{"Effect": "Deny", "Action": []interface{}{"ssm:*", "*"}, "Resource": []interface{}{"*"}},
				}}
				if !reflect.DeepEqual(back, want) {
					t.Errorf("policy JSON = %s, want %v", got, want)
				}
			}},
		{name: "old policy version", input: validConfig(map[string]interface{}{doc: policyDoc("2008-10-17", readS3)})},
		{name: "profile given as ARN", input: validConfig(map[string]interface{}{"iam_instance_profile": "arn:aws:iam::123456789012:instance-profile/build-readers"}),
			wantErr: []string{"`iam_instance_profile` \"arn:aws:iam::123456789012:instance-profile/build-readers\" is an ARN: give the instance profile's name (\"build-readers\")"}},
		{name: "profile name with a space", input: validConfig(map[string]interface{}{"iam_instance_profile": "build readers"}),
			wantErr: []string{"`iam_instance_profile` \"build readers\" is not an instance profile name"}},
		{name: "profile name too long", input: validConfig(map[string]interface{}{"iam_instance_profile": strings.Repeat("p", 129)}),
			wantErr: []string{"is not an instance profile name: use up to 128"}},
		{name: "skip validation without a profile", input: validConfig(map[string]interface{}{"skip_profile_validation": true}),
			wantErr: []string{"`skip_profile_validation` only applies with `iam_instance_profile`"}},
		{name: "both profiles", input: validConfig(map[string]interface{}{"iam_instance_profile": "build-readers", doc: policyDoc("", readS3)}),
			wantErr: []string{"`iam_instance_profile` and `temporary_iam_instance_profile_policy_document` both set"}},
		{name: "no statement", input: validConfig(map[string]interface{}{doc: policyDoc("2012-10-17")}),
			wantErr: []string{"`temporary_iam_instance_profile_policy_document` has no `Statement` block"}},
		{name: "unknown version", input: validConfig(map[string]interface{}{doc: policyDoc("2024-01-01", readS3)}),
			wantErr: []string{"`Version` \"2024-01-01\" is not an IAM policy version"}},
		{name: "no Effect", input: validConfig(map[string]interface{}{doc: policyDoc("", statement("", []string{"s3:GetObject"}, []string{"*"}))}),
			wantErr: []string{"Statement 1: `Effect` is required: \"Allow\" or \"Deny\""}},
		{name: "lower-case Effect", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3, statement("allow", []string{"s3:GetObject"}, []string{"*"}))}),
			wantErr: []string{"Statement 2: `Effect` \"allow\": use \"Allow\" or \"Deny\""}},
		{name: "no Action", input: validConfig(map[string]interface{}{doc: policyDoc("", statement("Allow", nil, []string{"*"}))}),
			wantErr: []string{"Statement 1: `Action` needs at least one action"}},
		{name: "empty Action list", input: validConfig(map[string]interface{}{doc: policyDoc("", statement("Allow", []string{}, []string{"*"}))}),
			wantErr: []string{"Statement 1: `Action` needs at least one action"}},
		{name: "Action without service", input: validConfig(map[string]interface{}{doc: policyDoc("", statement("Allow", []string{"GetObject"}, []string{"*"}))}),
			wantErr: []string{"`Action` \"GetObject\" is not service:Action"}},
		{name: "no Resource", input: validConfig(map[string]interface{}{doc: policyDoc("", statement("Allow", []string{"s3:GetObject"}, nil))}),
			wantErr: []string{"Statement 1: `Resource` is required"}},
		{name: "Resource not an ARN", input: validConfig(map[string]interface{}{doc: policyDoc("", statement("Allow", []string{"s3:GetObject"}, []string{"seeds/*"}))}),
			wantErr: []string{"`Resource` \"seeds/*\" is not an ARN"}},
		{name: "permissions boundary", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3),
			"temporary_iam_role_permissions_boundary": "arn:aws:iam::123456789012:policy/build/packer-bakery-boundary"}),
			check: func(t *testing.T, c *Config) {
				if c.TemporaryIamRolePermissionsBoundary != "arn:aws:iam::123456789012:policy/build/packer-bakery-boundary" {
					t.Errorf("boundary = %q", c.TemporaryIamRolePermissionsBoundary)
				}
			}},
		{name: "AWS managed policy as boundary", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3),
			"temporary_iam_role_permissions_boundary": "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"})},
		{name: "boundary without a temporary profile", input: validConfig(map[string]interface{}{
			"temporary_iam_role_permissions_boundary": "arn:aws:iam::123456789012:policy/b"}),
			wantErr: []string{"`temporary_iam_role_permissions_boundary` only applies with `temporary_iam_instance_profile_policy_document`"}},
		{name: "boundary with an existing profile", input: validConfig(map[string]interface{}{"iam_instance_profile": "build-readers",
			"temporary_iam_role_permissions_boundary": "arn:aws:iam::123456789012:policy/b"}),
			wantErr: []string{"`temporary_iam_role_permissions_boundary` only applies with"}},
		{name: "boundary given as a name", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3),
			"temporary_iam_role_permissions_boundary": "packer-bakery-boundary"}),
			wantErr: []string{"`temporary_iam_role_permissions_boundary` \"packer-bakery-boundary\" is not the ARN of a managed policy"}},
		{name: "boundary that is a role", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3),
			"temporary_iam_role_permissions_boundary": "arn:aws:iam::123456789012:role/admin"}),
			wantErr: []string{"is not the ARN of a managed policy"}},
		{name: "boundary with a short account", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3),
			"temporary_iam_role_permissions_boundary": "arn:aws:iam::1234:policy/b"}),
			wantErr: []string{"is not the ARN of a managed policy"}},
		{name: "boundary with a wildcard", input: validConfig(map[string]interface{}{doc: policyDoc("", readS3),
			"temporary_iam_role_permissions_boundary": "arn:aws:iam::123456789012:policy/*"}),
			wantErr: []string{"is not the ARN of a managed policy"}},
		{
			name: "every problem of a document at once",
			input: validConfig(map[string]interface{}{doc: policyDoc("1", statement("Permit", nil, nil),
				statement("Allow", []string{"s3:GetObject"}, []string{"bucket"}))}),
			wantErr: []string{"`Version` \"1\"", "Statement 1: `Effect` \"Permit\"", "Statement 1: `Action`",
				"Statement 1: `Resource` is required", "Statement 2: `Resource` \"bucket\""},
		},
	}
	runPrepareCases(t, tests)
}

func TestIAMConfigPrepare_unknownValuesPassValidation(t *testing.T) {
	unknown := hcl2helper.UnknownVariableValue
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"temporary_iam_instance_profile_policy_document": policyDoc(unknown,
			statement(unknown, []string{unknown}, []string{unknown})),
	}))
	if err != nil {
		t.Errorf("placeholders rejected: %v", err)
	}
	c = Config{}
	if _, err := c.Prepare(validConfig(map[string]interface{}{
		"temporary_iam_instance_profile_policy_document": policyDoc("", statement("Allow", []string{"s3:GetObject"}, []string{"*"})),
		"temporary_iam_role_permissions_boundary":        unknown,
	})); err != nil {
		t.Errorf("placeholder boundary rejected: %v", err)
	}
	c = Config{}
	if _, err := c.Prepare(validConfig(map[string]interface{}{"iam_instance_profile": unknown})); err != nil {
		t.Errorf("placeholder profile name rejected: %v", err)
	}
}
