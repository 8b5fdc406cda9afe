//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AccessConfig,AMIFilterOptions

// Package common holds what more than one component of the plugin needs:
// how to reach AWS, how to wait for it, and the filter and tag blocks.
package common

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-bakery/packer-plugin-bakery/version"
)

// AccessConfig says how the plugin reaches AWS: which credentials, which
// region, which endpoints. Anything not set here is resolved the way the AWS
// CLI resolves it (environment, shared config and credentials files, the
// instance role).
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
	// The named profile of the shared config and credentials files to use,
	// as `AWS_PROFILE` would select it.
	Profile string `mapstructure:"profile" required:"false"`
	// Path to the shared credentials file, instead of `~/.aws/credentials`
	// (or `AWS_SHARED_CREDENTIALS_FILE`).
	SharedCredentialsFile string `mapstructure:"shared_credentials_file" required:"false"`
	// The region to build in, e.g. `us-east-1`. When unset, `AWS_REGION`,
	// `AWS_DEFAULT_REGION` and then the profile's region are used; a build
	// with no region at all fails before it creates anything.
	RawRegion string `mapstructure:"region" required:"false"`
	// The URL of the EC2 API, for emulators and private endpoints
	// (`https://ec2.us-east-1.amazonaws.com` style).
	CustomEndpointEC2 string `mapstructure:"custom_endpoint_ec2" required:"false"`
	// The URL of the STS API, used to check the credentials before a build.
	CustomEndpointSTS string `mapstructure:"custom_endpoint_sts" required:"false"`
	// The URL of the IAM API.
	CustomEndpointIAM string `mapstructure:"custom_endpoint_iam" required:"false"`
	// Do not call STS GetCallerIdentity before the build. The account and
	// caller ARN are then not reported.
	SkipCredsValidation bool `mapstructure:"skip_credential_validation" required:"false"`
	// Do not check that the region exists (with EC2 DescribeRegions); for
	// regions the API does not list yet.
	SkipRegionValidation bool `mapstructure:"skip_region_validation" required:"false"`
	// The maximum number of attempts of a throttled or failed AWS call.
	// Defaults to the SDK's (3).
	MaxRetries int `mapstructure:"max_retries" required:"false"`
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// Prepare checks the options and registers every secret with Packer's log
// filter, so that neither the UI nor PACKER_LOG output can show them.
func (c *AccessConfig) Prepare() []error {
	packersdk.LogSecretFilter.Set(c.SecretKey, c.Token)

	var errs []error
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("`access_key` and `secret_key` go together: set both, or neither to use the AWS CLI's credential sources"))
	}
	if c.Token != "" && c.AccessKey == "" {
		errs = append(errs, errors.New("`token` needs `access_key` and `secret_key`"))
	}
	if c.RawRegion != "" && !c.SkipRegionValidation && !regionPattern.MatchString(c.RawRegion) {
		errs = append(errs, fmt.Errorf("`region` %q is not a region name like us-east-1 (set `skip_region_validation = true` for an unlisted one)", c.RawRegion))
	}
	for key, ep := range map[string]string{
		"custom_endpoint_ec2": c.CustomEndpointEC2,
		"custom_endpoint_sts": c.CustomEndpointSTS,
		"custom_endpoint_iam": c.CustomEndpointIAM,
	} {
		if ep == "" {
			continue
		}
		if u, err := url.Parse(ep); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("`%s` %q must be an absolute URL such as https://ec2.us-east-1.amazonaws.com", key, ep))
		}
	}
	if c.MaxRetries < 0 {
		errs = append(errs, errors.New("`max_retries` cannot be negative"))
	}
	return errs
}

// LoadAWSConfig resolves credentials and region into one aws.Config: the
// template's options first, then exactly what the AWS CLI would use. The
// credentials are not fetched here; Session.Identify does that.
func (c *AccessConfig) LoadAWSConfig(ctx context.Context) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithAppID("packer-plugin-bakery/" + version.Version),
	}
	if c.RawRegion != "" {
		opts = append(opts, config.WithRegion(c.RawRegion))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.SharedCredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{c.SharedCredentialsFile}))
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.Token)))
	}
	if c.MaxRetries > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(c.MaxRetries))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set `region` in the template, or AWS_REGION, or a region in the selected profile")
	}
	return cfg, nil
}
