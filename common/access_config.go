//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AccessConfig,AssumeRoleConfig,AMIFilterOptions

// Package common holds what more than one component of the plugin needs:
// how to reach AWS, how to wait for it, and the filter and tag blocks.
package common

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// AccessConfig says how the plugin reaches AWS: which credentials, which
// region, which endpoints. Anything not set here is resolved the way the AWS
// CLI resolves it (environment, shared config and credentials files,
// container and instance roles); docs/credentials.md has the order.
type AccessConfig struct {
	// The access key ID used to talk to AWS. Leave unset to use the AWS CLI's
	// sources (environment, profiles, instance role); set it together with
	// `secret_key`.
	AccessKey string `mapstructure:"access_key" required:"false"`
	// The secret access key that goes with `access_key`.
	SecretKey string `mapstructure:"secret_key" required:"false"`
	// The session token of temporary credentials, with `access_key` and
	// `secret_key`.
	Token string `mapstructure:"token" required:"false"`
	// The named profile of the shared config and credentials files to use.
	// It wins over `AWS_PROFILE` and over keys in the environment, as the AWS
	// CLI's `--profile` does. A profile that does not exist is an error.
	Profile string `mapstructure:"profile" required:"false"`
	// Path to the shared credentials file, instead of `AWS_SHARED_CREDENTIALS_FILE`
	// or `~/.aws/credentials`.
	SharedCredentialsFile string `mapstructure:"shared_credentials_file" required:"false"`
	// Path to the shared config file, instead of `AWS_CONFIG_FILE` or
	// `~/.aws/config`.
	SharedConfigFile string `mapstructure:"shared_config_file" required:"false"`
	// The region to build in, e.g. `us-east-1`. When unset: `AWS_REGION`,
	// `AWS_DEFAULT_REGION`, the profile's `region`, then the instance's region
	// from IMDS (unless `skip_metadata_api_check`). A build with no region at
	// all fails before it calls EC2.
	RawRegion string `mapstructure:"region" required:"false"`
	// Assume this IAM role with the credentials resolved above (template
	// keys, environment, profile, ...). The build then runs as the role; its
	// credentials are refreshed before they expire.
	AssumeRole AssumeRoleConfig `mapstructure:"assume_role" required:"false"`
	// The current code of the MFA device, for a role that requires MFA: the
	// profile's `mfa_serial`, or `assume_role { mfa_serial }`. A code works
	// once, so the role's credentials cannot be refreshed with it: set
	// `duration_seconds` to cover the whole build. Pass it as a variable
	// (`-var mfa_code=123456`).
	MFACode string `mapstructure:"mfa_code" required:"false"`
	// The URL of the EC2 API, for emulators and private endpoints
	// (`https://ec2.us-east-1.amazonaws.com` style). Wins over
	// `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL` and a profile's `endpoint_url`.
	CustomEndpointEC2 string `mapstructure:"custom_endpoint_ec2" required:"false"`
	// The URL of the STS API: the credential check, assumed roles (of
	// `assume_role` and of profiles) and web identity. Wins over
	// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` and a profile's `endpoint_url`.
	CustomEndpointSTS string `mapstructure:"custom_endpoint_sts" required:"false"`
	// The URL of the IAM API. Wins over `AWS_ENDPOINT_URL_IAM`,
	// `AWS_ENDPOINT_URL` and a profile's `endpoint_url`.
	CustomEndpointIAM string `mapstructure:"custom_endpoint_iam" required:"false"`
	// Do not verify the TLS certificates of AWS endpoints. Only for private
	// endpoints with self-signed certificates; never against AWS itself.
	InsecureSkipTLSVerify bool `mapstructure:"insecure_skip_tls_verify" required:"false"`
	// Do not call STS GetCallerIdentity before the build. The account and
	// caller ARN are then not reported.
	SkipCredsValidation bool `mapstructure:"skip_credential_validation" required:"false"`
	// Do not use the EC2 instance metadata service (IMDS) for credentials or
	// the region, even when running on EC2.
	SkipMetadataAPICheck bool `mapstructure:"skip_metadata_api_check" required:"false"`
	// Do not check that the region exists (with EC2 DescribeRegions); for
	// regions the API does not list yet.
	SkipRegionValidation bool `mapstructure:"skip_region_validation" required:"false"`
	// When an EC2 call fails with an encoded authorization message
	// (UnauthorizedOperation), decode it with STS DecodeAuthorizationMessage
	// and show which action, resource and condition were denied. Needs
	// `sts:DecodeAuthorizationMessage`.
	DecodeAuthzMessages bool `mapstructure:"decode_authorization_messages" required:"false"`
	// The maximum number of attempts of a throttled or failed AWS call, in
	// the SDK's adaptive retry mode (backoff up to 20 s, one retry budget
	// for the whole plugin process). Unset: AWS_MAX_ATTEMPTS and
	// AWS_RETRY_MODE as for the AWS CLI, else 10.
	MaxRetries int `mapstructure:"max_retries" required:"false"`
}

// AssumeRoleConfig is the `assume_role` block: a role assumed with STS
// AssumeRole on top of whatever credentials were resolved.
type AssumeRoleConfig struct {
	// The ARN of the role to assume.
	RoleARN string `mapstructure:"role_arn" required:"false"`
	// The session name (shows in CloudTrail and in the caller ARN). Defaults
	// to `packer-bakery-<unix time>`.
	SessionName string `mapstructure:"session_name" required:"false"`
	// The external ID the role's trust policy asks for.
	ExternalID string `mapstructure:"external_id" required:"false"`
	// How long the role's credentials last, 900 to 43200 seconds (and at most
	// the role's maximum session duration). Defaults to 900; they are
	// refreshed before they expire (except with `mfa_code`).
	DurationSeconds int `mapstructure:"duration_seconds" required:"false"`
	// An IAM policy (JSON) that further limits the session's permissions.
	Policy string `mapstructure:"policy" required:"false"`
	// ARNs of managed policies that further limit the session's permissions.
	PolicyARNs []string `mapstructure:"policy_arns" required:"false"`
	// Session tags.
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// Keys of session tags that pass on to roles assumed later in a chain.
	TransitiveTagKeys []string `mapstructure:"transitive_tag_keys" required:"false"`
	// The serial number or ARN of the MFA device the role requires; the code
	// comes from `mfa_code`.
	MFASerial string `mapstructure:"mfa_serial" required:"false"`
}

func (a *AssumeRoleConfig) empty() bool {
	return a.RoleARN == "" && a.SessionName == "" && a.ExternalID == "" && a.DurationSeconds == 0 &&
		a.Policy == "" && len(a.PolicyARNs) == 0 && len(a.Tags) == 0 && len(a.TransitiveTagKeys) == 0 && a.MFASerial == ""
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-\d+$`)
	roleARNPattern = regexp.MustCompile(`^arn:[a-z-]+:iam::\d{12}:role/.+$`)
)

// Prepare checks the options and registers every secret with Packer's log
// filter, so that neither the UI nor PACKER_LOG output can show them.
func (c *AccessConfig) Prepare() []error {
	packersdk.LogSecretFilter.Set(c.SecretKey, c.Token, c.MFACode)

	var errs []error
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("`access_key` and `secret_key` go together: set both, or neither to use the AWS CLI's credential sources"))
	}
	if c.Token != "" && c.AccessKey == "" {
		errs = append(errs, errors.New("`token` needs `access_key` and `secret_key`"))
	}
	if c.RawRegion != "" && Known(c.RawRegion) && !c.SkipRegionValidation && !regionPattern.MatchString(c.RawRegion) {
		errs = append(errs, fmt.Errorf("`region` %q is not a region name like us-east-1 (set `skip_region_validation = true` for an unlisted one)", c.RawRegion))
	}
	for _, ep := range []struct{ key, value string }{
		{"custom_endpoint_ec2", c.CustomEndpointEC2},
		{"custom_endpoint_sts", c.CustomEndpointSTS},
		{"custom_endpoint_iam", c.CustomEndpointIAM},
	} {
		if ep.value == "" || !Known(ep.value) {
			continue
		}
		if u, err := url.Parse(ep.value); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("`%s` %q must be an absolute URL such as https://ec2.us-east-1.amazonaws.com", ep.key, ep.value))
		}
	}
	if c.MaxRetries < 0 {
		errs = append(errs, errors.New("`max_retries` cannot be negative"))
	}
	errs = append(errs, c.AssumeRole.prepare()...)
	if c.AssumeRole.MFASerial != "" && c.MFACode == "" {
		errs = append(errs, errors.New("`assume_role { mfa_serial }` needs `mfa_code`, the device's current code"))
	}
	return errs
}

func (a *AssumeRoleConfig) prepare() []error {
	if a.empty() {
		return nil
	}
	var errs []error
	if a.RoleARN == "" {
		errs = append(errs, errors.New("`assume_role` needs `role_arn`, the ARN of the role to assume"))
	} else if !roleARNPattern.MatchString(a.RoleARN) {
		errs = append(errs, fmt.Errorf("`assume_role { role_arn }` %q is not a role ARN like arn:aws:iam::123456789012:role/packer", a.RoleARN))
	}
	if a.DurationSeconds != 0 && (a.DurationSeconds < 900 || a.DurationSeconds > 43200) {
		errs = append(errs, fmt.Errorf("`assume_role { duration_seconds }` is %d: it must be between 900 and 43200", a.DurationSeconds))
	}
	if a.Policy != "" && !json.Valid([]byte(a.Policy)) {
		errs = append(errs, errors.New("`assume_role { policy }` is not valid JSON"))
	}
	for _, k := range a.TransitiveTagKeys {
		if _, ok := a.Tags[k]; !ok {
			errs = append(errs, fmt.Errorf("`assume_role { transitive_tag_keys }` names %q, which is not in `tags`", k))
		}
	}
	return errs
}
